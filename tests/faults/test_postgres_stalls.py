"""A real ``pubkit serve`` whose PostgreSQL catalog is reached through a TCP proxy that pauses,
refuses, slows and cuts: liveness and the pages the worker knows stay fast, what needs the
catalog ends with a one-line 503 within its bound, /ready names the catalog within 2 s,
nothing is half-written, and everything works again once PostgreSQL is back.

The catalog URL sets short bounds (statement_timeout 0.5 s, so the client gives up after
1.5 s; connect_timeout 2 s, libpq's least; pool_timeout 1 s) so that the module stays quick.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pubkit.server.catalog import open_catalog
from pubkit.testing import LiveServer, make_wheel
from tests.conftest import postgres_database
from tests.e2e.support import PASSWORDS
from tests.faults.support import (
    JSON,
    STALE_HEADER,
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

BOUNDS = "statement_timeout=0.5&connect_timeout=2&pool_timeout=1"
# A catalog call that meets a paused PostgreSQL: the pool's pre-ping (1.5 s), then a new
# connection (2 s); plus a margin for a loaded machine.
CALL_BOUND = 1.5 + 2 + 2.5


class Setup:
    def __init__(self, server: LiveServer, proxy: TcpProxy, direct_url: str) -> None:
        self.server = server
        self.proxy = proxy
        self.direct_url = direct_url  # the catalog without the proxy, for the test's checks

    def page(self, project: str) -> str:
        return f"{self.server.simple_url}{project}/"

    def has_row(self, filename: str) -> bool:
        catalog = open_catalog(self.direct_url, create=False)
        try:
            return catalog.file(filename) is not None
        finally:
            catalog.close()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with postgres_database("pubkit_faults") as direct:
        parts = urlsplit(direct)
        with TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432)) as proxy:
            proxied = parts._replace(netloc=f"postgres@127.0.0.1:{proxy.port}").geturl()
            data_dir = tmp_path_factory.mktemp("pg-faults") / "data"
            server = LiveServer(data_dir, env={"PUBKIT_CATALOG": f"{proxied}?{BOUNDS}"})
            server.add_user("alice", PASSWORDS["alice"])
            server.start(timeout=120)  # a loaded CI machine takes its time
            try:
                yield Setup(server, proxy, direct)
            finally:
                server.stop()


@pytest.fixture(autouse=True)
def recovered(setup: Setup) -> Iterator[None]:
    yield
    setup.proxy.resume()
    wait_until(lambda: ready(setup.server), 15, "/ready after the fault")


def published(setup: Setup, tmp_path: Path, project: str) -> Path:
    wheel = make_wheel(tmp_path, project, "1.0")
    _, response = upload(setup.server, wheel)
    assert response.status_code == 200, response.text
    return wheel


def test_paused_catalog_costs_only_the_requests_that_need_it(
    setup: Setup, tmp_path: Path
) -> None:
    server, proxy = setup.server, setup.proxy
    wheel = published(setup, tmp_path, "pg-paused-known")
    published(setup, tmp_path, "pg-paused-unseen")
    known, unseen = setup.page("pg-paused-known"), setup.page("pg-paused-unseen")
    download = f"{server.url}files/pg-paused-known/{wheel.name}"
    # What this worker knows: one project's page (both media types), the list, one file.
    for url, headers in ((known, {}), (known, JSON), (server.simple_url, {}), (download, {})):
        assert timed_get(url, headers=headers)[1].status_code == 200

    with proxy.paused(), ThreadPoolExecutor(1) as pool:
        # An upload needs the catalog (who is alice, may she): it waits on the pause.
        pending = pool.submit(upload, server, make_wheel(tmp_path, "pg-paused-new", "1.0"))
        time.sleep(0.3)
        assert_fast(samples(server.url + "health"), 0.1, 1.0, "/health")
        pages = samples(known) + samples(known, headers=JSON) + samples(server.simple_url)
        assert_fast(pages, 0.5, 1.0, "known pages")
        assert all(response.headers.get(STALE_HEADER) for _, response in pages)
        assert_fast(samples(download, 2), 0.5, 1.0, "a known file")
        elapsed, response = timed_get(unseen)
        assert_one_line_503(response, "catalog")
        assert elapsed < 1.0, elapsed  # the worker knows the catalog stalls: no wait
        elapsed, response = timed_get(server.url + "ready")
        assert response.status_code == 503 and elapsed < 2.0, (elapsed, response.text)
        assert [line.split(":")[0] for line in response.json()["problems"]] == ["catalog"]
        elapsed, refused = pending.result()
        assert_one_line_503(refused, "catalog")
        assert elapsed < CALL_BOUND, elapsed

    # Back: the pool's connections that met the pause are gone, new ones work at once.
    wait_until(lambda: ready(server), 10, "/ready after the pause")
    for _ in range(5):
        page = timed_get(unseen, headers=JSON)[1]
        assert page.status_code == 200 and STALE_HEADER not in page.headers
    # The refused upload left nothing: no row, no stored object.
    assert not setup.has_row("pg_paused_new-1.0-py3-none-any.whl")
    assert not (server.data_dir / "files" / "pg-paused-new").exists()
    assert timed_get(setup.page("pg-paused-new"))[1].status_code == 404


def test_refused_catalog_is_reported_at_once_and_known_pages_still_come(
    setup: Setup, tmp_path: Path
) -> None:
    server, proxy = setup.server, setup.proxy
    published(setup, tmp_path, "pg-refused")
    known = setup.page("pg-refused")
    assert timed_get(known)[1].status_code == 200
    with proxy.refused():
        assert_fast(samples(known), 0.5, 1.0, "a known page")
        elapsed, response = timed_get(server.url + "ready")
        assert response.status_code == 503 and elapsed < 2.0, (elapsed, response.text)
        assert response.json()["problems"][0].startswith("catalog: ")
        elapsed, response = upload(server, make_wheel(tmp_path, "pg-refused-new", "1.0"))
        assert_one_line_503(response, "catalog")
        assert elapsed < CALL_BOUND, elapsed
    wait_until(lambda: ready(server), 10, "/ready after the refusal")
    assert not setup.has_row("pg_refused_new-1.0-py3-none-any.whl")
    _, again = upload(server, make_wheel(tmp_path, "pg-refused-new", "1.0"))
    assert again.status_code == 200, again.text


def test_cut_connections_are_replaced_without_an_error(setup: Setup, tmp_path: Path) -> None:
    """The pool's connections all reset at once: the next requests reconnect (pre-ping)."""
    proxy = setup.proxy
    published(setup, tmp_path, "pg-cut")
    assert timed_get(setup.page("pg-cut"))[1].status_code == 200
    assert proxy.cut() > 0
    published(setup, tmp_path, "pg-cut-after")  # moves the serial: the pages are read anew
    for project in ("pg-cut", "pg-cut-after"):
        response = timed_get(setup.page(project))[1]
        assert response.status_code == 200 and STALE_HEADER not in response.headers


def test_slow_catalog_still_answers(setup: Setup, tmp_path: Path) -> None:
    """At 2 KB/s each query takes a fraction of a second, within its bound: the upload is
    slower but goes through, and the worker serves liveness and known pages meanwhile (from
    its cache, marked stale, when the serial takes longer than PUBKIT_STALE_AFTER)."""
    server, proxy = setup.server, setup.proxy
    published(setup, tmp_path, "pg-slow")
    known = setup.page("pg-slow")
    assert timed_get(known)[1].status_code == 200
    with proxy.slowed(2000), ThreadPoolExecutor(1) as pool:
        pending = pool.submit(upload, server, make_wheel(tmp_path, "pg-slow-new", "1.0"))
        assert_fast(samples(server.url + "health"), 0.1, 1.0, "/health")
        assert_fast(samples(known), 0.5, 1.0, "a known page")
        _, response = pending.result()
        assert response.status_code == 200, response.text
    assert setup.has_row("pg_slow_new-1.0-py3-none-any.whl")
    assert timed_get(setup.page("pg-slow-new"))[1].status_code == 200
