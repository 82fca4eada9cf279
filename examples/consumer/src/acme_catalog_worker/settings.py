"""The worker's settings: acme-kafka's, plus its own topic, all from ``ACME_*`` variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from acme_aws import AwsSettings, S3JsonStore
from acme_core import load_settings
from acme_kafka import KafkaSettings


@dataclass(frozen=True, kw_only=True)
class WorkerSettings(KafkaSettings):
    """``ACME_LISTINGS_TOPIC``, and every ``ACME_KAFKA_*`` and shared setting of acme-core."""

    service: str = "acme-catalog-worker"
    listings_topic: str = "catalog.listings"

    @property
    def topic(self) -> str:
        """The topic with the environment's prefix (``ACME_KAFKA_TOPIC_PREFIX``)."""
        return self.kafka_topic_prefix + self.listings_topic


def summary_store(environ: Mapping[str, str]) -> S3JsonStore | None:
    """Where run summaries go: the S3 bucket of ``ACME_S3_BUCKET``, or nowhere when unset."""
    if not environ.get("ACME_S3_BUCKET"):
        return None
    return S3JsonStore.from_settings(load_settings(AwsSettings, environ))
