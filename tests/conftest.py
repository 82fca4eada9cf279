"""Fixtures shared by every tier."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# Tests must never pick up a developer's or CI's own pubkit configuration.
for _name in [name for name in os.environ if name.startswith("PUBKIT_")]:
    del os.environ[_name]


@pytest.fixture
def dist_dir(tmp_path: Path) -> Path:
    path = tmp_path / "dist"
    path.mkdir()
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data"
    path.mkdir()
    yield path


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """moto's S3 in server mode: a real HTTP endpoint on 127.0.0.1 that boto3 (in this process
    and in the servers it starts) reaches through the standard AWS variables."""
    from moto.server import ThreadedMotoServer

    # Port 0: the kernel's choice, bound at once. A port chosen beforehand can be taken by
    # another test run before moto binds it, and then moto's thread dies and start() waits
    # forever.
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    settings = {"AWS_ENDPOINT_URL_S3": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield endpoint
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def unique_bucket_name(label: str) -> str:
    """A bucket name that starts with ``label`` and is used once: two tests of one run, or
    two runs sharing an S3 endpoint, never see each other's objects."""
    import re
    import uuid

    slug = re.sub(r"[^a-z0-9-]+", "-", label.lower()).strip("-")[:50].strip("-")
    return f"{slug}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def s3_bucket(moto_s3: str, request: pytest.FixtureRequest) -> str:
    """A fresh bucket, named after the test."""
    import boto3

    name = unique_bucket_name(request.node.name)
    boto3.client("s3").create_bucket(Bucket=name)
    return name


POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def postgres_database(prefix: str = "pubkit_test") -> Iterator[str]:
    """A fresh database on the local PostgreSQL server (trust auth); its catalog URL."""
    import uuid

    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def server_backend(backend: str, bucket: str) -> Iterator[dict[str, str]]:
    """The PUBKIT_STORAGE / PUBKIT_CATALOG of ``backend`` ("local": none), set in this
    process's environment (servers and CLI calls started meanwhile inherit them); name the
    bucket with :func:`unique_bucket_name`."""
    if backend == "local":
        yield {}
        return
    assert backend == "s3-postgres", backend
    import boto3

    boto3.client("s3").create_bucket(Bucket=bucket)
    with postgres_database() as catalog:
        settings = {"PUBKIT_STORAGE": f"s3://{bucket}/pubkit?addressing=path",
                    "PUBKIT_CATALOG": catalog}  # fmt: skip
        os.environ.update(settings)
        try:
            yield settings
        finally:
            for name in settings:
                os.environ.pop(name, None)
