"""One run of the worker: a feed in, ``listing.cleaned`` events out, a summary in S3."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from acme_aws import S3JsonStore
from acme_kafka import BatchingProducer, Envelope

from acme_catalog_worker.listings import InvalidListingError, clean_listing, parse_listing

LISTING_CLEANED = "listing.cleaned"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rejection:
    """A line of the feed that was not published, and why."""

    line: int
    reason: str


@dataclass
class Summary:
    """What one run published and what it rejected."""

    run_id: str
    published: int = 0
    rejections: list[Rejection] = field(default_factory=list)

    def to_document(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "published": self.published,
            "rejected": [{"line": r.line, "reason": r.reason} for r in self.rejections],
        }


def summary_key(run_id: str) -> str:
    """Where a run's summary lives in the store."""
    return f"runs/{run_id}.json"


def run(
    lines: Iterable[str],
    producer: BatchingProducer,
    *,
    run_id: str,
    store: S3JsonStore | None = None,
) -> Summary:
    """Clean every listing of ``lines`` (JSON, one per line) and send it through ``producer``.

    A line that is not a valid listing is logged and skipped; it does not stop the run. When
    this returns, the broker has acknowledged every event (the producer was flushed), and only
    then is the summary written to ``store``, so a summary never counts an undelivered event.
    """
    summary = Summary(run_id)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            listing = clean_listing(parse_listing(line))
        except InvalidListingError as error:
            summary.rejections.append(Rejection(number, str(error)))
            logger.warning("listing rejected", extra={"line": number, "reason": str(error)})
            continue
        producer.send(Envelope(LISTING_CLEANED, listing.to_payload()), key=listing.id)
        summary.published += 1
    producer.flush()
    if store is not None:
        store.put(summary_key(run_id), summary.to_document())
    logger.info(
        "run finished",
        extra={
            "run_id": run_id,
            "published": summary.published,
            "rejected": len(summary.rejections),
        },
    )
    return summary
