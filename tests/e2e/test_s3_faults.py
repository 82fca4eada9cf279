"""A pubkit server whose S3 endpoint fails or stalls (a faulty proxy in front of moto's S3
server): uploads answer 503 with the reason and leave nothing behind, the simple pages keep
being served from the catalog, and a stalled backend holds a request only as long as the
storage timeouts allow while the worker keeps serving others."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests

from pubkit.testing import LiveServer, make_wheel
from tests.conftest import postgres_database, unique_bucket_name
from tests.e2e.support import PASSWORDS
from tests.faults.http_proxy import Fault, faulty_proxy

pytestmark = pytest.mark.e2e

BUCKET = unique_bucket_name("e2e-s3-faults")
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
WRITES = ("PUT", "POST", "DELETE")


class Switch:
    """What the proxy does to requests to S3: pass them, fail writes, fail all, or stall."""

    mode = "pass"

    def rule(self, method: str, path: str) -> Fault | None:
        if self.mode == "fail-writes" and method in WRITES:
            return Fault(status=503, message="SlowDown")
        if self.mode == "fail-all":
            return Fault(status=503, message="SlowDown")
        if self.mode == "stall-writes" and method in WRITES:
            return Fault(stall=3.0, status=503)
        return None


@pytest.fixture(scope="module")
def switch() -> Switch:
    return Switch()


@pytest.fixture(scope="module")
def server(
    moto_s3: str, switch: Switch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    with faulty_proxy(moto_s3, switch.rule) as proxy, postgres_database() as catalog:
        storage = (f"s3://{BUCKET}/pubkit?addressing=path&max_attempts=2&connect_timeout=1"
                   "&read_timeout=1")  # fmt: skip
        live = LiveServer(tmp_path_factory.mktemp("s3-faults") / "data", env={
            "PUBKIT_STORAGE": storage, "PUBKIT_CATALOG": catalog,
            "AWS_ENDPOINT_URL_S3": proxy})  # fmt: skip
        live.add_user("alice", PASSWORDS["alice"])
        live.start()
        try:
            yield live
        finally:
            live.stop()


def upload(server: LiveServer, path: Path) -> requests.Response:
    data = path.read_bytes()
    fields = {":action": "file_upload", "protocol_version": "1", "filetype": "bdist_wheel",
              "sha256_digest": hashlib.sha256(data).hexdigest()}  # fmt: skip
    return requests.post(server.url, data=fields, files={"content": (path.name, data)},
                         auth=("alice", PASSWORDS["alice"]), timeout=120)  # fmt: skip


def stored(project: str) -> list[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=f"pubkit/{project}/")
    return [item["Key"] for item in listing.get("Contents", [])]


@pytest.fixture(autouse=True)
def healthy_afterwards(switch: Switch) -> Iterator[None]:
    yield
    switch.mode = "pass"


@pytest.mark.parametrize("mode", ["fail-writes", "stall-writes"])
def test_an_upload_the_storage_refuses_is_a_503_and_leaves_nothing(
    server: LiveServer, switch: Switch, tmp_path: Path, mode: str
) -> None:
    project = f"e2e-{mode}"
    wheel = make_wheel(tmp_path, project, "1.0")
    switch.mode = mode
    refused = upload(server, wheel)
    assert refused.status_code == 503, refused.text
    assert refused.text.count("\n") <= 1 and f"s3://{BUCKET}/pubkit/" in refused.text
    switch.mode = "pass"
    assert stored(project) == []
    assert requests.get(f"{server.simple_url}{project}/", timeout=10).status_code == 404
    # Once S3 is back, the same upload goes through.
    assert upload(server, wheel).status_code == 200
    assert len(stored(project)) == 3


def test_pages_are_served_from_the_catalog_while_s3_is_down(
    server: LiveServer, switch: Switch, tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path, "e2e-s3-down", "1.0")
    assert upload(server, wheel).status_code == 200
    switch.mode = "fail-all"
    page = requests.get(f"{server.simple_url}e2e-s3-down/", headers=JSON, timeout=30)
    assert page.status_code == 200
    assert [entry["filename"] for entry in page.json()["files"]] == [wheel.name]
    download = requests.get(f"{server.url}files/e2e-s3-down/{wheel.name}", timeout=30)
    assert download.status_code == 503
    assert requests.get(f"{server.url}ready", timeout=30).status_code == 503
    switch.mode = "pass"
    assert requests.get(f"{server.url}files/e2e-s3-down/{wheel.name}",
                        timeout=30).content == wheel.read_bytes()  # fmt: skip


def test_a_stalled_backend_does_not_stall_the_worker(
    server: LiveServer, switch: Switch, tmp_path: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    wheel = make_wheel(tmp_path, "e2e-stalled", "1.0")
    switch.mode = "stall-writes"
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(upload, server, wheel)
        # While the upload waits on S3, the same single worker answers other requests.
        for _ in range(5):
            assert requests.get(f"{server.url}health", timeout=5).status_code == 200
            assert requests.get(server.simple_url, timeout=5).status_code == 200
        assert pending.result().status_code == 503
