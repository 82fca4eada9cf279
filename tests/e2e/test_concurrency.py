"""Several workers, several clients at once: every file exactly once, no stale page."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from pubkit.testing import LiveServer, make_wheel

pytestmark = pytest.mark.e2e

PASSWORD = "concurrency-password"
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("concurrency") / "data",
                      extra_args=("--workers", "2"))
    live.add_user("alice", PASSWORD)
    live.start()
    yield live
    live.stop()


def _upload(server: LiveServer, path: Path) -> int:
    data = path.read_bytes()
    fields = {
        ":action": "file_upload", "protocol_version": "1", "filetype": "bdist_wheel",
        "sha256_digest": hashlib.sha256(data).hexdigest(),
    }
    response = requests.post(server.url, data=fields, files={"content": (path.name, data)},
                             auth=("alice", PASSWORD), timeout=60)
    return response.status_code


def test_racing_uploads_of_one_filename_store_exactly_one(server: LiveServer,
                                                          tmp_path: Path) -> None:
    variants = [
        make_wheel(tmp_path / str(i), "race", "1.0", modules={"race/v.py": f"V = {i}\n"})
        for i in range(8)
    ]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda p: _upload(server, p), variants))
    assert sorted(statuses) == [200] + [409] * 7
    winner = variants[statuses.index(200)]
    (listed,) = requests.get(server.simple_url + "race/", headers=JSON,
                             timeout=10).json()["files"]
    assert listed["hashes"]["sha256"] == hashlib.sha256(winner.read_bytes()).hexdigest()
    served = requests.get(server.url + "files/race/" + winner.name, timeout=10).content
    assert served == winner.read_bytes()


def test_racing_identical_uploads_all_succeed(server: LiveServer, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "same", "1.0")
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: _upload(server, wheel), range(8)))
    assert statuses == [200] * 8
    files = requests.get(server.simple_url + "same/", headers=JSON, timeout=10).json()["files"]
    assert len(files) == 1


def test_many_projects_uploaded_at_once(server: LiveServer, tmp_path: Path) -> None:
    wheels = [make_wheel(tmp_path, f"bulk-{i}", "1.0") for i in range(24)]
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(lambda p: _upload(server, p), wheels)) == {200}
    index = requests.get(server.simple_url, headers=JSON, timeout=10).json()
    names = {project["name"] for project in index["projects"]}
    assert {f"bulk-{i}" for i in range(24)} <= names


def test_no_worker_serves_a_stale_page_after_an_upload(server: LiveServer,
                                                       tmp_path: Path) -> None:
    assert _upload(server, make_wheel(tmp_path, "fresh", "1.0")) == 200
    session = requests.Session()
    # Warm the page cache of both workers (new connections spread over them).
    for _ in range(20):
        requests.get(server.simple_url + "fresh/", headers=JSON, timeout=10)
    assert _upload(server, make_wheel(tmp_path, "fresh", "2.0")) == 200
    for _ in range(20):
        versions = requests.get(server.simple_url + "fresh/", headers=JSON,
                                timeout=10).json()["versions"]
        assert versions == ["1.0", "2.0"]
    session.close()
