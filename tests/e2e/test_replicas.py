"""Two stateless replicas sharing one S3 bucket and one PostgreSQL catalog, as on Kubernetes:
what one accepts the other serves at once, and racing uploads over both store every file
exactly once, in storage and in the catalog."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
import requests

from pubkit.testing import LiveServer, make_wheel
from tests.conftest import server_backend, unique_bucket_name
from tests.e2e.support import PASSWORDS, Venv, output, pip_install, start_server, twine_upload

pytestmark = pytest.mark.e2e

BUCKET = unique_bucket_name("e2e-replicas")
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


@pytest.fixture(scope="module")
def replicas(
    moto_s3: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, LiveServer]]:
    with server_backend("s3-postgres", BUCKET):
        first = start_server(tmp_path_factory.mktemp("replica-a") / "data")
        # The users are in the shared catalog already: the second replica only starts.
        second = LiveServer(tmp_path_factory.mktemp("replica-b") / "data").start()
        try:
            yield first, second
        finally:
            first.stop()
            second.stop()


def upload(server: LiveServer, path: Path) -> int:
    data = path.read_bytes()
    fields = {":action": "file_upload", "protocol_version": "1", "filetype": "bdist_wheel",
              "sha256_digest": hashlib.sha256(data).hexdigest()}  # fmt: skip
    response = requests.post(server.url, data=fields, files={"content": (path.name, data)},
                             auth=("alice", PASSWORDS["alice"]), timeout=60)  # fmt: skip
    return response.status_code


def stored_keys(project: str) -> list[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=f"pubkit/{project}/")
    return sorted(item["Key"] for item in listing.get("Contents", []))


def listed(server: LiveServer, project: str) -> dict[str, str]:
    page = requests.get(f"{server.simple_url}{project}/", headers=JSON, timeout=10).json()
    return {entry["filename"]: entry["hashes"]["sha256"] for entry in page["files"]}


def test_upload_through_one_install_through_the_other_at_once(
    replicas: tuple[LiveServer, LiveServer], venv: Venv, dists: Path
) -> None:
    first, second = replicas
    # Warm the second replica's page cache before the upload: it must not serve it stale.
    assert requests.get(f"{second.simple_url}e2e-shared/", timeout=10).status_code == 404
    wheel = make_wheel(dists, "e2e-shared", "1.0")
    uploaded = twine_upload(first, [wheel], "alice")
    assert uploaded.returncode == 0, output(uploaded)
    installed = pip_install(venv, second, "e2e-shared")
    assert installed.returncode == 0, output(installed)
    assert venv.installed()["e2e-shared"] == "1.0"
    assert requests.get(f"{second.simple_url}e2e-shared/", timeout=10).status_code == 200
    newer = make_wheel(dists, "e2e-shared", "1.1")
    assert twine_upload(second, [newer], "alice").returncode == 0
    assert set(listed(first, "e2e-shared")) == {wheel.name, newer.name}


def test_racing_uploaders_over_both_replicas_store_each_file_once(
    replicas: tuple[LiveServer, LiveServer], tmp_path: Path
) -> None:
    first, second = replicas
    # Eight uploaders of one filename with different bytes, spread over both replicas.
    variants = [make_wheel(tmp_path / str(i), "e2e-race", "1.0",
                           modules={"e2e_race/v.py": f"V = {i}\n"}) for i in range(8)]  # fmt: skip
    targets = [first if i % 2 else second for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(upload, targets, variants))
    assert sorted(statuses) == [200] + [409] * 7
    winner = variants[statuses.index(200)]
    digest = hashlib.sha256(winner.read_bytes()).hexdigest()
    assert listed(first, "e2e-race") == listed(second, "e2e-race") == {winner.name: digest}
    name = winner.name
    assert stored_keys("e2e-race") == [f"pubkit/e2e-race/{name}", f"pubkit/e2e-race/{name}.json",
                                       f"pubkit/e2e-race/{name}.metadata"]  # fmt: skip

    # Eight distinct files, each uploaded twice (once through each replica) at the same time.
    wheels = [make_wheel(tmp_path / "many", "e2e-many", f"1.{i}") for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(upload, [first, second] * 8, [w for w in wheels for _ in "ab"]))
    assert statuses == [200] * 16  # identical bytes: the second of each pair is a no-op
    assert set(listed(second, "e2e-many")) == {wheel.name for wheel in wheels}
    assert len(stored_keys("e2e-many")) == 3 * len(wheels)
