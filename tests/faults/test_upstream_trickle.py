"""A real ``pubkit serve --upstream`` in front of an upstream that trickles (one byte every
0.5 s, each well within the read timeout; tests/faults/trickle_upstream.py): pubkit hangs
up on it within its bounds (a page's whole answer in three timeouts; a file's headers in
three, its body at 16 KiB/s after a grace period), the request ends with a one-line error
(or the stale page pubkit has), nothing partial is cached, and /health, a local project's
page and, once the trickles are cut off, other upstream projects answer meanwhile.

``--upstream-timeout 1`` keeps the module quick: a page request waits 2 s at most (the
timeout and a second), pubkit lets go of the upstream at 3 s (pages, a file's headers) or
4 s (a file's body: its grace period, one 64 KiB chunk at 16 KiB/s).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from pubkit.server.storage import open_storage
from pubkit.server.upstream.index import FILES_PREFIX
from pubkit.settings import load_server_settings
from pubkit.testing import LiveServer, make_wheel
from tests.e2e.support import start_server
from tests.faults.support import JSON, assert_fast, samples, timed_get, upload, wait_until
from tests.faults.trickle_upstream import (
    BODY,
    HEADERS,
    Connection,
    TrickleUpstream,
    trickle_upstream,
)
from tests.upstream_support import StaticIndex

pytestmark = pytest.mark.e2e

TIMEOUT = 1.0
SLACK = 5.0  # for a loaded machine
PAGE_WAIT = TIMEOUT + 1.0  # how long a page request waits for the upstream
PAGE_CUT = 3 * TIMEOUT  # when pubkit hangs up on a page (or on a file's headers)
FILE_CUT = 4.0  # when it hangs up on a file's trickling body (its grace period)


@dataclass
class Setup:
    server: LiveServer
    upstream: TrickleUpstream
    wheels: dict[str, Path]

    def page(self, name: str) -> str:
        return f"{self.server.simple_url}{name}/"

    def file(self, name: str) -> str:
        return f"{self.server.url}upstream/files/{name}/{self.wheels[name].name}"

    def cut_off(self, prefix: str, bound: float, since: float = 0.0) -> None:
        """pubkit hung up on every upstream answer under ``prefix`` (begun after ``since``),
        each within ``bound``."""

        def matching() -> list[Connection]:
            return [c for c in self.upstream.connections
                    if c.path.startswith(prefix) and c.started > since]  # fmt: skip

        wait_until(lambda: bool(matching()) and all(c.ended for c in matching()),
                   bound + SLACK, f"pubkit hanging up on {prefix}")  # fmt: skip
        for connection in matching():
            assert connection.hung_up, connection
            assert connection.seconds < bound + SLACK, connection


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    where = tmp_path_factory.mktemp("wheels")
    index = StaticIndex()
    names = ("head-lib", "body-lib", "stale-lib", "plain-lib", "file-head-lib", "file-body-lib")
    wheels = {name: make_wheel(where, name, "1.0") for name in names}
    # 600 KiB that do not compress: slower than the grace period at the rate it comes.
    wheels["big-lib"] = make_wheel(
        where, "big-lib", "1.0", extra_files={"big_lib/blob.bin": os.urandom(600 * 1024)}
    )
    for wheel in wheels.values():
        index.add(wheel)
    with trickle_upstream(index) as upstream:
        server = start_server(tmp_path_factory.mktemp("trickle") / "data",
                              "--upstream", upstream.simple_url, "--upstream-timeout",
                              str(TIMEOUT), "--upstream-ttl", "0")  # fmt: skip
        try:
            local = make_wheel(where, "local-lib", "1.0")
            _, uploaded = upload(server, local)
            assert uploaded.status_code == 200, uploaded.text
            yield Setup(server, upstream, wheels)
        finally:
            server.stop()


def assert_one_line_error(response: requests.Response, *words: str) -> None:
    assert response.status_code in (502, 503), (response.status_code, response.text)
    assert response.text.endswith("\n") and response.text.count("\n") == 1, response.text
    for word in words:
        assert word in response.text, response.text


def test_a_page_whose_headers_or_body_trickle(setup: Setup) -> None:
    setup.upstream.trickle.update({"/simple/head-lib/": HEADERS, "/simple/body-lib/": BODY})
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda name: timed_get(setup.page(name), headers=JSON),
                                ["head-lib", "body-lib"]))  # fmt: skip
    for elapsed, response in answers:
        assert_one_line_error(response, "did not answer within 1 s")
        assert elapsed < PAGE_WAIT + SLACK, elapsed
    setup.cut_off("/simple/head-lib/", PAGE_CUT)
    setup.cut_off("/simple/body-lib/", PAGE_CUT)


def test_the_stale_page_is_served_while_the_upstream_trickles(setup: Setup) -> None:
    _, first = timed_get(setup.page("stale-lib"), headers=JSON)
    assert first.status_code == 200 and "x-pubkit-upstream-stale" not in first.headers
    setup.upstream.trickle["/simple/stale-lib/"] = BODY
    since = time.monotonic()
    elapsed, response = timed_get(setup.page("stale-lib"), headers=JSON)
    assert response.status_code == 200, response.text
    assert "did not answer" in response.headers["x-pubkit-upstream-stale"]
    assert elapsed < PAGE_WAIT + SLACK, elapsed
    setup.cut_off("/simple/stale-lib/", PAGE_CUT, since)


def test_a_file_whose_headers_or_body_trickle_is_not_cached(setup: Setup) -> None:
    setup.upstream.trickle.update({"/files/file_head_lib": HEADERS,
                                   "/files/file_body_lib": BODY})  # fmt: skip
    urls = [setup.file("file-head-lib"), setup.file("file-body-lib")]
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(timed_get, urls))
    for (elapsed, response), cut in zip(answers, (PAGE_CUT, FILE_CUT), strict=True):
        assert_one_line_error(response, "sends too slowly")
        assert elapsed < cut + SLACK, elapsed
    setup.cut_off("/files/file_head_lib", PAGE_CUT)
    setup.cut_off("/files/file_body_lib", FILE_CUT)
    # Nothing stored for them; whatever is stored has its sidecar.
    settings = load_server_settings({"data_dir": setup.server.data_dir}, environ=os.environ)
    keys = {stored.key for stored in open_storage(settings.storage_url).list(FILES_PREFIX)}
    assert not [key for key in keys if "file-head-lib" in key or "file-body-lib" in key], keys
    assert all(key.endswith(".json") or key + ".json" in keys for key in keys), keys


def test_a_slow_but_honest_file_arrives(setup: Setup) -> None:
    """96 KiB/s: well over the minimum rate, so the deadline keeps moving past the grace
    period (the download takes longer than it) and the file is cached whole."""
    setup.upstream.rates["/files/big_lib"] = 96 * 1024
    elapsed, response = timed_get(setup.file("big-lib"))
    assert response.status_code == 200, response.text
    assert response.content == setup.wheels["big-lib"].read_bytes()
    assert elapsed > FILE_CUT, elapsed  # it did outlast the grace period


def test_other_requests_answer_while_upstreams_trickle(setup: Setup) -> None:
    """More trickles than the worker has upstream threads: /health and a local project's
    page answer at once; other upstream projects again once the trickles are cut off."""
    setup.upstream.trickle["/simple/many-"] = HEADERS
    names = [f"many-{i}" for i in range(12)]
    with ThreadPoolExecutor(len(names)) as pool:
        started = time.monotonic()
        trickles = [pool.submit(timed_get, setup.page(name), headers=JSON) for name in names]
        time.sleep(0.3)
        assert_fast(samples(setup.server.url + "health", 5), 0.5, 2.0, "/health")
        assert_fast(samples(setup.page("local-lib"), 5, headers=JSON), 0.5, 2.0, "local page")
        for trickle in trickles:
            elapsed, response = trickle.result()
            assert_one_line_error(response)
            assert elapsed < PAGE_WAIT + SLACK, elapsed
    setup.cut_off("/simple/many-", PAGE_CUT)
    assert time.monotonic() - started < PAGE_CUT + SLACK
    elapsed, plain = timed_get(setup.page("plain-lib"), headers=JSON)
    assert plain.status_code == 200, plain.text
    assert "x-pubkit-upstream-stale" not in plain.headers
