"""`pubkit upstream status` of a real two-worker server in front of a real upstream: the
counts are every worker's summed, whichever worker answers, and so is the last error.

Requests are sent one at a time, each on a new connection (so both workers serve some), and
counted here; then every page look-up is a hit or a fetch, every file download too:

- pages: hits + fetches = the page requests + the file downloads that were no hit (each
  looked the page up first, to know the file);
- files: hits + fetches = the file downloads; errors: the downloads the upstream failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from pubkit.testing import LiveServer, make_wheel
from tests.e2e.support import client_env, output, start_server
from tests.upstream_support import StaticIndex, static_index

pytestmark = pytest.mark.e2e

ADMIN = ("root", "root-e2e-password")
BATCH = 10
MAX_PAGE_REQUESTS = 200
FILE_DOWNLOADS = 12
BROKEN_DOWNLOADS = 4
CLOSE = {"Connection": "close"}  # a new connection each: the kernel picks the worker


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaticIndex]:
    where = tmp_path_factory.mktemp("upstream-wheels")
    with static_index() as index:
        index.add(make_wheel(where, "spread-lib", "1.0"))
        # Its page advertises another sha256 than the bytes have: every download fails.
        index.add(make_wheel(where, "broken-lib", "1.0"), wrong_sha256=True)
        yield index


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, upstream: StaticIndex
) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("workers") / "data", "--workers", "2",
                        "--upstream", upstream.simple_url, "--upstream-timeout", "5",
                        admin=ADMIN, timeout=120)  # fmt: skip
    try:
        yield live
    finally:
        live.stop()


def status(server: LiveServer) -> dict[str, Any]:
    answer = requests.get(server.url + "api/v1/upstream", auth=ADMIN, headers=CLOSE, timeout=30)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def page_requests(worker: dict[str, Any]) -> int:
    return int(worker["pages"]["hits"] + worker["pages"]["fetches"])


def wait_for(server: LiveServer, check: Any, timeout: float = 20.0) -> dict[str, Any]:
    """Ask until ``check(status)`` holds: the other worker publishes once a second."""
    deadline = time.monotonic() + timeout
    while True:
        answer = status(server)
        if check(answer) or time.monotonic() > deadline:
            return answer
        time.sleep(0.3)


@pytest.fixture(scope="module")
def traffic(server: LiveServer, upstream: StaticIndex) -> dict[str, int]:
    """The requests made, by kind; sent until both workers have served pages."""
    made = {"pages": 0, "files": 0, "broken": 0}
    wheel = next(iter(upstream.projects["spread-lib"])).path.name
    broken = next(iter(upstream.projects["broken-lib"])).path.name
    accepts = ("application/vnd.pypi.simple.v1+json", "text/html")
    while made["pages"] < MAX_PAGE_REQUESTS:
        for number in range(BATCH):
            page = requests.get(server.simple_url + "spread-lib/", timeout=30,
                                headers={**CLOSE, "Accept": accepts[number % 2]})  # fmt: skip
            assert page.status_code == 200, page.text
            made["pages"] += 1
        workers = wait_for(server, lambda s: sum(map(page_requests, s["counted"]["workers"]))
                           == made["pages"])["counted"]["workers"]  # fmt: skip
        if len(workers) == 2 and all(page_requests(w) > 0 for w in workers):
            break
    for _ in range(FILE_DOWNLOADS):
        download = requests.get(f"{server.url}upstream/files/spread-lib/{wheel}", headers=CLOSE,
                                timeout=30)  # fmt: skip
        assert download.status_code == 200
        made["files"] += 1
    for _ in range(BROKEN_DOWNLOADS):
        failed = requests.get(f"{server.url}upstream/files/broken-lib/{broken}", headers=CLOSE,
                              timeout=30)  # fmt: skip
        assert failed.status_code == 502 and "does not match the sha256" in failed.text
        made["broken"] += 1
    return made


def sums_hold(answer: dict[str, Any], made: dict[str, int]) -> bool:
    pages, files = answer["pages"], answer["files"]
    downloads = made["files"] + made["broken"]
    return bool(files["hits"] + files["fetches"] == downloads
            and files["errors"] == made["broken"]
            and pages["hits"] + pages["fetches"] == made["pages"] + files["fetches"])  # fmt: skip


def test_status_sums_every_workers_counts_whichever_answers(
    server: LiveServer, traffic: dict[str, int]
) -> None:
    first = wait_for(server, lambda s: sums_hold(s, traffic))
    assert sums_hold(first, traffic), (first, traffic)
    answered: dict[int, dict[str, Any]] = {}
    for _ in range(60):  # until both workers have answered
        answer = status(server)
        counted = answer["counted"]
        assert counted["every_worker"] is True
        answered[counted["answered_by"]] = answer
        if len(answered) == 2:
            break
    assert len(answered) == 2, f"one worker answered every status request: {list(answered)}"
    for answer in answered.values():
        assert sums_hold(answer, traffic), (answer, traffic)
        workers = answer["counted"]["workers"]
        assert {w["pid"] for w in workers} == set(answered), workers
        assert all(w["running"] for w in workers)
        # The per-worker counts add up to the sums; each worker served pages.
        for kind in ("pages", "files"):
            for key in ("hits", "fetches", "errors"):
                assert sum(w[kind][key] for w in workers) == answer[kind][key]
        assert all(page_requests(w) > 0 for w in workers)
        # The last error, the same whichever worker answers (the newest of any worker's).
        error = answer["last_error"]
        assert error is not None and "does not match the sha256" in error["message"], error
        assert error["worker"] in answered and error["time"]
        assert answer["pages"]["errors"] == 0
    assert len({str(a["last_error"]) for a in answered.values()}) == 1
    assert len({(str(a["pages"]), str(a["files"])) for a in answered.values()}) == 1


def test_the_cli_says_the_counts_cover_every_worker(
    server: LiveServer, traffic: dict[str, int]
) -> None:
    wait_for(server, lambda s: sums_hold(s, traffic))
    env = {**client_env(), "PUBKIT_ADMIN_USERNAME": ADMIN[0], "PUBKIT_ADMIN_PASSWORD": ADMIN[1]}
    done = subprocess.run(
        [sys.executable, "-m", "pubkit", "upstream", "status", "--server", server.url],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 0, output(done)
    assert "counted: every worker (2); answered by worker" in done.stdout, done.stdout
    assert "does not match the sha256" in done.stdout
    lines = [line for line in done.stdout.splitlines() if line.startswith("  worker ")]
    assert len(lines) == 2, done.stdout


def test_the_last_error_stays_after_its_worker_exits(
    server: LiveServer, traffic: dict[str, int]
) -> None:
    """A worker killed after its error: its snapshot stays (counts never go back), it is
    shown as not running, and the replacement's answers still carry the error."""
    before = wait_for(server, lambda s: sums_hold(s, traffic))
    error = before["last_error"]
    assert error is not None
    os.kill(error["worker"], 9)
    after = wait_for(server, lambda s: any(not w["running"] for w in s["counted"]["workers"])
                     and s["counted"]["answered_by"] != error["worker"])  # fmt: skip
    assert after["last_error"] == error
    assert sums_hold(after, traffic)
    dead = [w for w in after["counted"]["workers"] if not w["running"]]
    assert [w["pid"] for w in dead] == [error["worker"]]


def test_with_metrics_off_the_workers_still_share_their_counts(
    tmp_path_factory: pytest.TempPathFactory, upstream: StaticIndex
) -> None:
    """PUBKIT_METRICS=0: no /metrics, but the supervisor still makes the shared folder for
    the upstream's status."""
    live = LiveServer(tmp_path_factory.mktemp("no-metrics") / "data",
                      extra_args=("--workers", "2", "--upstream", upstream.simple_url),
                      env={"PUBKIT_METRICS": "0"})  # fmt: skip
    live.add_user(*ADMIN, admin=True)
    live.start(timeout=120)
    try:
        assert requests.get(live.url + "metrics", timeout=30).status_code == 404
        made = 0
        workers: list[dict[str, Any]] = []
        while made < MAX_PAGE_REQUESTS:
            for _ in range(BATCH):
                page = requests.get(live.simple_url + "spread-lib/", headers=CLOSE, timeout=30)
                assert page.status_code == 200
                made += 1
            answer = wait_for(live, lambda s: sum(map(page_requests, s["counted"]["workers"]))
                              == made)  # fmt: skip  # noqa: B023
            assert answer["counted"]["every_worker"] is True
            workers = answer["counted"]["workers"]
            if len(workers) == 2 and all(page_requests(w) > 0 for w in workers):
                break
        assert len(workers) == 2 and sum(map(page_requests, workers)) == made
    finally:
        live.stop()
