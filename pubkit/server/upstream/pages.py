"""Upstream project pages, cached per worker and in storage.

A page is used without asking the upstream for ``ttl`` seconds; then it is revalidated
(``If-None-Match`` / ``If-Modified-Since``). One fetch per project is in flight at a time,
shared by the requests that want it, in the upstream's own bounded threads; it outlives a
request that stops waiting. A request waits at most the upstream timeout: then, or when the
upstream fails, the page it has is served, marked stale; without one it gets a one-line 502.
Each page an upstream answered is also written to storage (``.upstream/pages/``), so that a
worker that starts while the upstream is down still has it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from pubkit.errors import NotFoundError, PubkitError, UpstreamError
from pubkit.server.dependencies import Dependency
from pubkit.server.storage import Storage
from pubkit.server.upstream.client import PageAnswer, UpstreamClient, UpstreamFile
from pubkit.settings import redact_url

log = logging.getLogger("pubkit.server")

PAGES_PREFIX = ".upstream/pages/"
MAX_PAGES = 4096


def page_key(name: str) -> str:
    return f"{PAGES_PREFIX}{name}.json"


@dataclass
class UpstreamPage:
    """An upstream's answer for a project: ``files`` None when no upstream has it."""

    name: str
    source: str | None
    files: tuple[UpstreamFile, ...] | None
    etag: str | None = None
    last_modified: str | None = None
    fetched: float = field(default_factory=time.time)  # wall clock of the last answer
    checked: float = float("-inf")  # monotonic clock of the last answer
    version: int = 0  # changes whenever the files do (the rendered pages follow it)

    def to_json(self) -> bytes:
        return json.dumps({
            "name": self.name, "source": self.source, "etag": self.etag,
            "last_modified": self.last_modified, "fetched": self.fetched,
            "files": None if self.files is None else [f.to_json() for f in self.files],
        }).encode()  # fmt: skip

    @classmethod
    def from_json(cls, raw: bytes) -> UpstreamPage:
        data: dict[str, Any] = json.loads(raw)
        files = data.get("files")
        return cls(
            name=data["name"], source=data.get("source"), etag=data.get("etag"),
            last_modified=data.get("last_modified"), fetched=float(data.get("fetched", 0)),
            files=None if files is None else tuple(UpstreamFile.from_json(f) for f in files),
        )  # fmt: skip


@dataclass
class Lookup:
    page: UpstreamPage
    stale: bool
    problem: str | None = None


@dataclass
class UpstreamStats:
    """One worker's upstream counts (shared with the others through its metrics snapshot:
    :mod:`pubkit.server.upstream.counts`). Pages: served from this worker's cache (hits,
    rendered pages included) or asked of the upstream (fetches; errors: those that failed).
    Files: served from storage (hits) or asked of the upstream (fetches; errors: failed)."""

    hits: int = 0
    fetches: int = 0
    errors: int = 0
    last_error: str | None = None
    last_error_time: float | None = None  # wall clock
    last_success_time: float | None = None
    file_hits: int = 0
    file_fetches: int = 0
    file_errors: int = 0

    def failed(self, message: str) -> None:
        self.last_error, self.last_error_time = message, time.time()


class UpstreamPages:
    def __init__(
        self,
        client: UpstreamClient,
        sources: list[str],
        ttl: float,
        timeout: float,
        storage: Storage,
        calls: Dependency,
        storage_calls: Dependency,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.sources = sources
        self.ttl = ttl
        self.timeout = timeout
        self.storage = storage
        self.calls = calls
        self.storage_calls = storage_calls
        self.clock = clock
        self.stats = UpstreamStats()
        self._pages: OrderedDict[str, UpstreamPage] = OrderedDict()
        self._flights: dict[str, asyncio.Task[UpstreamPage]] = {}
        self._lock = threading.Lock()
        self._versions = 0

    def fresh(self, name: str) -> UpstreamPage | None:
        """The page of ``name`` if it is within its TTL (never waits)."""
        page = self._pages.get(name)
        if page is not None and self.clock() - page.checked < self.ttl:
            return page
        return None

    def known(self, name: str) -> UpstreamPage | None:
        """The page of ``name`` this worker has, however old."""
        return self._pages.get(name)

    async def get(self, name: str) -> Lookup:
        """The page of ``name``: fresh, revalidated, fetched, or (upstream failing) stale."""
        page = self.fresh(name)
        if page is not None:
            self.stats.hits += 1
            return Lookup(page, False)
        known = self._pages.get(name)
        if known is None:
            known = await self._stored(name)
        flight = self._flights.get(name)
        if flight is None:
            flight = asyncio.get_running_loop().create_task(self._fetch(name, known))
            self._flights[name] = flight
            flight.add_done_callback(lambda done: self._landed(name, done))
        with anyio.move_on_after(self.timeout + 1.0):
            await asyncio.wait([flight])
        problem = f"the upstream did not answer within {self.timeout:g} s"
        if flight.done():
            error = flight.exception()
            if error is None:
                return Lookup(flight.result(), False)
            problem = error.message if isinstance(error, PubkitError) else repr(error)
        if known is not None:
            log.warning("serving the stale upstream page of %s: %s", name, problem)
            return Lookup(known, True, problem)
        raise UpstreamError(f"{problem}; no copy of {name}'s upstream page is kept here")

    def _landed(self, name: str, flight: asyncio.Task[UpstreamPage]) -> None:
        """A fetch ended: the next request starts another; its error is taken (and was
        counted), so that asyncio does not report it as never retrieved."""
        self._flights.pop(name, None)
        if not flight.cancelled() and flight.exception() is not None:
            log.debug("the upstream fetch of %s failed: %s", name, flight.exception())

    async def _stored(self, name: str) -> UpstreamPage | None:
        try:
            raw = await self.storage_calls.run(self.storage.read_bytes, page_key(name))
        except NotFoundError:
            return None
        except PubkitError as error:
            log.warning("could not read the stored upstream page of %s: %s", name, error.message)
            return None
        try:
            page = UpstreamPage.from_json(raw)
        except (ValueError, KeyError, TypeError):
            return None
        self._remember(page)
        return page

    def _remember(self, page: UpstreamPage) -> None:
        with self._lock:
            self._versions += 1
            page.version = self._versions
            self._pages[page.name] = page
            self._pages.move_to_end(page.name)
            while len(self._pages) > MAX_PAGES:
                self._pages.popitem(last=False)

    async def _fetch(self, name: str, known: UpstreamPage | None) -> UpstreamPage:
        self.stats.fetches += 1
        try:
            page = await self._ask(name, known)
        except PubkitError as error:
            self.stats.errors += 1
            self.stats.failed(error.message)
            raise
        self.stats.last_success_time = time.time()
        return page

    async def _ask(self, name: str, known: UpstreamPage | None) -> UpstreamPage:
        """Ask the upstreams in order; the first that has the project wins."""
        for source in self.sources:
            validators = (known.etag, known.last_modified) if (
                known is not None and known.source == source) else (None, None)  # fmt: skip
            answer: PageAnswer = await self.calls.run(self.client.page, source, name, *validators)
            if answer.missing:
                continue
            if answer.files is None and known is not None:  # 304: not modified
                known.checked, known.fetched = self.clock(), time.time()
                known.etag, known.last_modified = answer.etag, answer.last_modified
                return known
            page = UpstreamPage(name, source, tuple(answer.files or ()), answer.etag,
                                answer.last_modified, checked=self.clock())  # fmt: skip
            return await self._keep(page, known)
        page = UpstreamPage(name, None, None, checked=self.clock())
        return await self._keep(page, known)

    async def _keep(self, page: UpstreamPage, known: UpstreamPage | None) -> UpstreamPage:
        same = known is not None and known.files == page.files and known.source == page.source
        if same and known is not None:
            known.checked, known.fetched = page.checked, page.fetched
            known.etag, known.last_modified = page.etag, page.last_modified
            return known
        self._remember(page)
        try:
            await self.storage_calls.run(self.storage.put_bytes, page_key(page.name),
                                         page.to_json())  # fmt: skip
        except PubkitError as error:
            log.warning("could not store the upstream page of %s: %s", page.name, error.message)
        return page

    def describe(self) -> list[str]:
        return [redact_url(source) for source in self.sources]
