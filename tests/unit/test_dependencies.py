"""The event loop's ways of waiting on storage and the catalog (pubkit.server.dependencies)
and the PostgreSQL engine's bounds; with fake dependencies (functions that sleep or block)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from pubkit.errors import CatalogError, ConfigurationError, StorageError
from pubkit.server.dependencies import (
    Dependency,
    ReadyCheck,
    SerialWatch,
    WouldBlock,
    check_all,
    may_block,
)


def catalog_calls(threads: int = 4, wait: float = 1.0) -> Dependency:
    return Dependency("catalog", threads, wait, CatalogError)


def test_offload_stays_on_the_loop_while_no_query_is_needed() -> None:
    loop_thread = threading.get_ident()
    ran_in: list[int] = []

    def lookup(needs_query: bool) -> str:
        if needs_query:
            may_block()
        ran_in.append(threading.get_ident())
        return "found"

    async def main() -> None:
        calls = catalog_calls()
        assert await calls.offload(lookup, False) == "found"
        assert await calls.offload(lookup, True) == "found"
        with pytest.raises(CatalogError, match="no copy"):
            await calls.offload(lookup, True, stale=True)

    anyio.run(main)
    assert ran_in[0] == loop_thread and ran_in[1] != loop_thread and len(ran_in) == 2


def test_a_dependency_whose_threads_are_all_stuck_refuses_within_its_wait() -> None:
    release = threading.Event()

    async def main() -> None:
        storage = Dependency("storage", 1, 0.2, StorageError)
        async with anyio.create_task_group() as group:
            group.start_soon(storage.run, release.wait, 10.0)
            await anyio.sleep(0.05)
            started = time.monotonic()
            with pytest.raises(StorageError, match="storage is not answering"):
                await storage.run(time.time)
            assert time.monotonic() - started < 1.0
            # The catalog's threads are another set: untouched by the stuck storage.
            assert await catalog_calls(1).run(lambda: 7) == 7
            release.set()
        assert await storage.run(lambda: 8) == 8

    anyio.run(main)


def counting_reads(delay: float) -> tuple[Callable[[], int], list[float]]:
    starts: list[float] = []

    def read() -> int:
        starts.append(time.monotonic())
        time.sleep(delay)
        return len(starts)

    return read, starts


def test_concurrent_requests_share_a_serial_read_that_began_after_they_arrived() -> None:
    read, starts = counting_reads(0.1)

    async def main() -> None:
        watch = SerialWatch(read, catalog_calls(), inline=False, stale_after=5.0)
        results: list[tuple[float, int, bool]] = []

        async def request() -> None:
            arrived = time.monotonic()
            serial = await watch.current()
            results.append((arrived, serial.value, serial.fresh))

        async with anyio.create_task_group() as group:
            for _ in range(10):
                group.start_soon(request)
            await anyio.sleep(0.03)  # a read is out; one more request arrives meanwhile
            group.start_soon(request)
        assert len(starts) == 2, starts
        assert all(fresh for _, _, fresh in results)
        # Every answer comes from a read that started after the request arrived.
        for arrived, value, _ in results:
            assert starts[value - 1] >= arrived

    anyio.run(main)


def test_a_stalled_serial_read_gives_the_last_known_serial_marked_stale() -> None:
    stalled = threading.Event()
    release = threading.Event()

    def read() -> int:
        if stalled.is_set():
            release.wait(5)
        return 41

    async def main() -> None:
        watch = SerialWatch(read, catalog_calls(), inline=False, stale_after=0.1)
        assert (await watch.current()).fresh
        stalled.set()
        started = time.monotonic()
        first = await watch.current()
        assert (first.value, first.fresh) == (41, False)
        assert time.monotonic() - started < 0.5
        # While that read is still out, later requests do not wait for it at all.
        started = time.monotonic()
        assert not (await watch.current()).fresh
        assert time.monotonic() - started < 0.05
        release.set()
        stalled.clear()
        await anyio.sleep(0.05)
        assert (await watch.current()).fresh

    anyio.run(main)


def test_no_serial_ever_read_is_a_503() -> None:
    def read() -> int:
        raise CatalogError("the catalog is not answering: connection refused; retry shortly")

    async def main() -> None:
        watch = SerialWatch(read, catalog_calls(), inline=False, stale_after=0.1)
        with pytest.raises(CatalogError, match="has not read it yet"):
            await watch.current()

    anyio.run(main)


def test_ready_checks_run_together_and_answer_within_their_bound() -> None:
    release = threading.Event()

    def stuck() -> None:
        release.wait(5)

    def refused() -> None:
        raise StorageError("could not reach the bucket: connection refused")

    async def main() -> None:
        checks = {"storage": ReadyCheck("storage", refused),
                  "catalog": ReadyCheck("catalog", stuck)}  # fmt: skip
        started = time.monotonic()
        results = await check_all(checks, 0.3)
        assert time.monotonic() - started < 1.0
        assert results["storage"] == "could not reach the bucket: connection refused"
        assert (results["catalog"] or "").startswith("did not answer within")
        # The next probe joins the check still out rather than starting another.
        assert (await check_all({"catalog": checks["catalog"]}, 0.1))["catalog"]
        release.set()
        await anyio.sleep(0.05)
        assert (await check_all({"catalog": checks["catalog"]}, 0.3))["catalog"] is None

    anyio.run(main)


def test_catalog_queries_refuse_to_run_inside_the_loop_attempt(tmp_path: Path) -> None:
    from pubkit.server.catalog import open_catalog

    catalog = open_catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    try:

        async def main() -> None:
            calls = catalog_calls()
            assert await calls.offload(catalog.projects) == []
            with pytest.raises(CatalogError):
                await calls.offload(catalog.projects, stale=True)

        anyio.run(main)
        with pytest.raises(WouldBlock):
            from pubkit.server.dependencies import _ON_LOOP

            token = _ON_LOOP.set(True)
            try:
                catalog.projects()
            finally:
                _ON_LOOP.reset(token)
    finally:
        catalog.close()


def test_postgres_bounds_come_from_the_url_with_defaults() -> None:
    pytest.importorskip("psycopg")
    from pubkit.server.catalog.postgres import postgres_engine

    engine = postgres_engine("postgresql://u@db.internal/pubkit")
    query = engine.url.query
    assert query["connect_timeout"] == "3" and query["tcp_user_timeout"] == "10000"
    assert query["keepalives"] == "1" and "-c statement_timeout=5000" in query["options"]
    assert engine.pool.timeout() == 5.0
    engine = postgres_engine(
        "postgresql://u@db.internal/pubkit?statement_timeout=0.5&pool_timeout=1"
        "&connect_timeout=7&options=-c%20search_path%3Dpk"
    )
    query = engine.url.query
    assert query["connect_timeout"] == "7" and "statement_timeout" not in query
    assert query["options"] == "-c search_path=pk -c statement_timeout=500"
    assert engine.pool.timeout() == 1.0
    with pytest.raises(ConfigurationError, match="statement_timeout"):
        postgres_engine("postgresql://u@db.internal/pubkit?statement_timeout=soon")
