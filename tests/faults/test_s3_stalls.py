"""A real ``pubkit serve`` whose S3 (moto's server) is reached through a TCP proxy that pauses,
refuses, slows and cuts: liveness and the simple pages stay fast, a download that needs S3
ends with a one-line 503 within the storage URL's bounds, /ready names the storage within
2 s, an upload during the pause leaves nothing half-written, and all works once S3 is back.

The storage URL sets short bounds (connect 1 s, read 1 s, one attempt) so that the module
stays quick; the catalog is the default SQLite.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
import requests

from pubkit.server.catalog import open_catalog
from pubkit.testing import LiveServer, make_wheel
from tests.e2e.support import PASSWORDS
from tests.faults.support import (
    JSON,
    assert_fast,
    assert_one_line_503,
    ready,
    samples,
    timed_get,
    upload,
    wait_until,
)
from tests.faults.tcp_proxy import TcpProxy

pytestmark = pytest.mark.e2e

BUCKET = "faults-s3-stalls"
BOUNDS = "connect_timeout=1&read_timeout=1&max_attempts=1"
# One S3 call that meets a pause: the read timeout (1 s), plus a margin for a loaded machine.
CALL_BOUND = 1 + 3


class Setup:
    def __init__(self, server: LiveServer, proxy: TcpProxy) -> None:
        self.server = server
        self.proxy = proxy

    def file_url(self, project: str, filename: str) -> str:
        return f"{self.server.url}files/{project}/{filename}"

    def stored(self, project: str) -> dict[str, bytes]:
        """What the bucket holds for ``project``, read without the proxy."""
        client = boto3.client("s3")
        listing = client.list_objects_v2(Bucket=BUCKET, Prefix=f"pubkit/{project}/")
        return {
            item["Key"]: client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            for item in listing.get("Contents", [])
        }

    def has_row(self, filename: str) -> bool:
        catalog = open_catalog(f"sqlite:///{self.server.data_dir / 'catalog.sqlite3'}", False)
        try:
            return catalog.file(filename) is not None
        finally:
            catalog.close()


@pytest.fixture(scope="module")
def setup(moto_s3: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    endpoint = urlsplit(moto_s3)
    with TcpProxy((endpoint.hostname or "127.0.0.1", endpoint.port or 80)) as proxy:
        server = LiveServer(tmp_path_factory.mktemp("s3-faults") / "data", env={
            "PUBKIT_STORAGE": f"s3://{BUCKET}/pubkit?addressing=path&{BOUNDS}",
            "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{proxy.port}",
        })  # fmt: skip
        server.add_user("alice", PASSWORDS["alice"])
        server.start(timeout=120)  # a loaded CI machine takes its time
        try:
            yield Setup(server, proxy)
        finally:
            server.stop()


@pytest.fixture(autouse=True)
def recovered(setup: Setup) -> Iterator[None]:
    yield
    setup.proxy.resume()
    wait_until(lambda: ready(setup.server), 15, "/ready after the fault")


def published(setup: Setup, wheel: Path) -> None:
    _, response = upload(setup.server, wheel)
    assert response.status_code == 200, response.text


def test_paused_s3_costs_only_the_requests_that_need_it(setup: Setup, tmp_path: Path) -> None:
    server, proxy = setup.server, setup.proxy
    wheel = make_wheel(tmp_path, "s3-paused", "1.0")
    published(setup, wheel)
    page = f"{server.simple_url}s3-paused/"
    assert timed_get(page)[1].status_code == 200
    metadata = setup.file_url("s3-paused", wheel.name + ".metadata")

    with proxy.paused(), ThreadPoolExecutor(1) as pool:
        # pip's first fetch for a requirement: the core metadata, from S3. It waits.
        pending = pool.submit(timed_get, metadata)
        time.sleep(0.3)
        assert_fast(samples(server.url + "health"), 0.1, 1.0, "/health")
        pages = samples(page) + samples(page, headers=JSON) + samples(server.simple_url)
        assert_fast(pages, 0.5, 1.0, "pages")
        elapsed, response = timed_get(server.url + "ready")
        assert response.status_code == 503 and elapsed < 2.0, (elapsed, response.text)
        assert [line.split(":")[0] for line in response.json()["problems"]] == ["storage"]
        elapsed, response = pending.result()
        assert_one_line_503(response, f"s3://{BUCKET}/pubkit/")
        assert elapsed < CALL_BOUND, elapsed

    wait_until(lambda: ready(server), 10, "/ready after the pause")
    response = timed_get(metadata)[1]
    assert response.status_code == 200 and b"Name: s3-paused" in response.content


def test_an_upload_during_a_pause_is_refused_and_leaves_nothing_half_written(
    setup: Setup, tmp_path: Path
) -> None:
    server, proxy = setup.server, setup.proxy
    wheel = make_wheel(tmp_path, "s3-paused-upload", "1.0",
                       extra_files={"blob.bin": os.urandom(64 * 1024)})  # fmt: skip
    with proxy.paused():
        elapsed, response = upload(server, wheel)
        assert_one_line_503(response, f"s3://{BUCKET}/pubkit/")
        assert elapsed < CALL_BOUND + 2, elapsed  # the failed store is also cleaned up
    wait_until(lambda: ready(server), 10, "/ready after the pause")
    # S3 may still apply the write it had been sent before the pause (a resumed process
    # reads its socket): at most the complete bytes, never listed without their catalog row.
    time.sleep(0.5)
    stored = setup.stored("s3-paused-upload")
    assert set(stored) <= {f"pubkit/s3-paused-upload/{wheel.name}"}, sorted(stored)
    for data in stored.values():
        assert hashlib.sha256(data).digest() == hashlib.sha256(wheel.read_bytes()).digest()
    assert not setup.has_row(wheel.name)
    assert timed_get(f"{server.simple_url}s3-paused-upload/")[1].status_code == 404
    # The same upload again completes, whatever the pause left.
    published(setup, wheel)
    response = timed_get(setup.file_url("s3-paused-upload", wheel.name))[1]
    assert response.status_code == 200 and response.content == wheel.read_bytes()


def test_refused_s3_is_a_quick_503_and_pages_still_come(setup: Setup, tmp_path: Path) -> None:
    server, proxy = setup.server, setup.proxy
    wheel = make_wheel(tmp_path, "s3-refused", "1.0")
    published(setup, wheel)
    page = f"{server.simple_url}s3-refused/"
    with proxy.refused():
        elapsed, response = timed_get(setup.file_url("s3-refused", wheel.name))
        assert_one_line_503(response, f"s3://{BUCKET}/pubkit/")
        assert elapsed < CALL_BOUND, elapsed
        assert_fast(samples(page), 0.5, 1.0, "a page")
        elapsed, response = timed_get(server.url + "ready")
        assert response.status_code == 503 and elapsed < 2.0, (elapsed, response.text)
        assert response.json()["problems"][0].startswith("storage: ")
    wait_until(lambda: ready(server), 10, "/ready after the refusal")
    assert timed_get(setup.file_url("s3-refused", wheel.name))[1].content == wheel.read_bytes()


def test_slow_s3_streams_a_download_while_the_worker_serves_others(
    setup: Setup, tmp_path: Path
) -> None:
    """At 100 KB/s a 300 KB wheel takes seconds; every read still gets bytes within the read
    timeout, so it completes, intact, and liveness stays fast meanwhile."""
    server, proxy = setup.server, setup.proxy
    wheel = make_wheel(tmp_path, "s3-slow", "1.0", extra_files={"blob.bin": os.urandom(300_000)})
    published(setup, wheel)
    with proxy.slowed(100_000), ThreadPoolExecutor(1) as pool:
        pending = pool.submit(timed_get, setup.file_url("s3-slow", wheel.name))
        time.sleep(0.3)
        assert_fast(samples(server.url + "health"), 0.1, 1.0, "/health")
        elapsed, response = pending.result()
    assert response.status_code == 200 and response.content == wheel.read_bytes()
    assert elapsed > 1.5, elapsed  # it was slowed indeed


def test_cut_s3_connections_mid_download_end_that_download_only(
    setup: Setup, tmp_path: Path
) -> None:
    """A reset in the middle of a streamed file ends that response short (the status was
    sent); the server goes on, and the next download reconnects and completes."""
    server, proxy = setup.server, setup.proxy
    wheel = make_wheel(tmp_path, "s3-cut", "1.0", extra_files={"blob.bin": os.urandom(600_000)})
    published(setup, wheel)
    url = setup.file_url("s3-cut", wheel.name)
    with proxy.slowed(200_000), ThreadPoolExecutor(1) as pool:
        pending = pool.submit(timed_get, url)
        time.sleep(1.0)
        assert proxy.cut() > 0
        try:
            _, response = pending.result()
            broken = response.status_code != 200 or response.content != wheel.read_bytes()
        except requests.RequestException:
            broken = True
        assert broken, "a download survived its storage connection being reset"
    assert_fast(samples(server.url + "health"), 0.1, 1.0, "/health")
    assert timed_get(url)[1].content == wheel.read_bytes()
    assert "Traceback" not in server.log()
