"""JSON documents in S3: checkpoints, manifests, small state shared between services."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from acme_core import AcmeError, RetryPolicy, Settings
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError


@dataclass(frozen=True, kw_only=True)
class AwsSettings(Settings):
    """``ACME_S3_BUCKET`` (required), ``ACME_S3_PREFIX``, ``ACME_AWS_REGION``, ..."""

    s3_bucket: str
    s3_prefix: str = ""
    aws_region: str | None = None
    # LocalStack, MinIO or a VPC endpoint; None for AWS itself.
    aws_endpoint_url: str | None = None


class ObjectNotFoundError(AcmeError):
    """No document under that key."""

    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(f"s3://{bucket}/{key} does not exist")
        self.bucket = bucket
        self.key = key


def boto_config(policy: RetryPolicy) -> Config:
    """A botocore config that retries as often as ``policy`` says.

    botocore does the retrying itself ("standard" mode): it knows which AWS errors are
    throttling or transient, and wrapping its calls in another retry loop would multiply
    the attempts.
    """
    return Config(retries={"total_max_attempts": policy.attempts, "mode": "standard"})


def s3_client(settings: AwsSettings, session: boto3.Session | None = None) -> BaseClient:
    """An S3 client for the configured region and endpoint, with the configured retries."""
    return (session or boto3.Session()).client(
        "s3",
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=boto_config(settings.retry_policy),
    )


class S3JsonStore:
    """JSON documents under one prefix of one bucket, addressed by relative keys."""

    def __init__(self, client: BaseClient, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""

    @classmethod
    def from_settings(
        cls, settings: AwsSettings, *, session: boto3.Session | None = None
    ) -> S3JsonStore:
        return cls(s3_client(settings, session), settings.s3_bucket, settings.s3_prefix)

    def put(self, key: str, document: Any) -> None:
        """Store ``document`` as JSON under ``key``, replacing what was there."""
        # Serialized first: a value JSON cannot encode raises before anything is written.
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        self.client.put_object(
            Bucket=self.bucket, Key=self.prefix + key, Body=body, ContentType="application/json"
        )

    def get(self, key: str) -> Any:
        """The document under ``key``; :class:`ObjectNotFoundError` when there is none."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "NoSuchKey":
                raise ObjectNotFoundError(self.bucket, self.prefix + key) from None
            raise
        return json.loads(response["Body"].read())

    def delete(self, key: str) -> None:
        """Remove the document under ``key``; removing a missing one is not an error."""
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def keys(self, prefix: str = "") -> Iterator[str]:
        """The keys of this store that start with ``prefix``, all pages of them."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                yield item["Key"].removeprefix(self.prefix)
