"""Fixtures: a clean environment, an in-memory broker, and S3 answered by botocore's Stubber."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import boto3
import pytest
from acme_aws import S3JsonStore
from botocore.stub import Stubber
from fakes import FakeBroker

BUCKET = "acme-runs"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No ACME_* setting and no AWS account of this machine reaches a test; logging restored."""
    for name in [name for name in os.environ if name.startswith("ACME_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def broker() -> FakeBroker:
    return FakeBroker()


@pytest.fixture
def s3() -> Iterator[Stubber]:
    """A real boto3 S3 client whose calls botocore's Stubber answers: no request leaves."""
    client = boto3.client("s3", region_name="eu-west-1")
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def store(s3: Stubber) -> S3JsonStore:
    return S3JsonStore(s3.client, BUCKET, prefix="catalog-worker")
