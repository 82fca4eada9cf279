"""``--upstream-list-cached``: ``/simple/`` also lists the upstream projects whose pages are
cached.

The cached pages are those in storage (``.upstream/pages/``, every worker's). They are
listed in the background, in storage's threads, at most every ``LIST_INTERVAL`` seconds and
only while ``/simple/`` is asked for: a request never waits on storage, it gets the list as
last scanned (right after a start, until the first scan ends, none). A page is read once,
and again only when its size or time in storage changes; a page without files (no upstream
had the project) is not listed.

Which of them the project list shows is decided with the catalog at the request's serial (in
the catalog's threads, once per serial and scan, then kept rendered): never a name the guard
keeps local, that is one with a project here (with files, it is listed anyway, as local; a
private one only to those who may read it), a reserved one, or one matching
``--internal-names``; never a page whose every file is in quarantine (until one comes of
age). An upstream project has no ``_last-serial`` in the JSON list: the serial is this
index's.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timezone
from typing import TYPE_CHECKING

from pubkit.core.distributions import is_normalized
from pubkit.errors import NotFoundError, PubkitError
from pubkit.server.catalog import Catalog
from pubkit.server.dependencies import Dependency, WouldBlock
from pubkit.server.simple import RenderedPage, SimplePages, render_index
from pubkit.server.storage import Storage
from pubkit.server.upstream.pages import PAGES_PREFIX, UpstreamPage

if TYPE_CHECKING:
    from pubkit.server.upstream.index import UpstreamIndex

log = logging.getLogger("pubkit.server")

LIST_INTERVAL = 5.0  # seconds between two scans of the cached pages, at most one each


@dataclass(frozen=True)
class Listed:
    """A cached page with files: its name, and what the quarantine needs of its files (the
    same few bytes whatever their number: every cached page is held in every worker)."""

    name: str
    undated: bool  # a file without an upload time (never in quarantine)
    earliest: float | None  # the earliest upload time of the dated files (None: no such)


@dataclass(frozen=True)
class Scan:
    version: int  # changes whenever the pages do
    pages: Mapping[str, Listed]


def listed(raw: bytes) -> Listed | None:
    """What the list needs of a stored page (None: unreadable, or without files)."""
    try:
        page = UpstreamPage.from_json(raw)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not page.files or not is_normalized(page.name):
        return None
    dated = [
        (f.upload_time if f.upload_time.tzinfo else f.upload_time.replace(tzinfo=timezone.utc)
         ).timestamp()
        for f in page.files if f.upload_time is not None
    ]  # fmt: skip
    return Listed(page.name, len(dated) < len(page.files), min(dated) if dated else None)


class CachedListing:
    """The scan of the cached pages (background, bounded) and the project list with them."""

    def __init__(
        self, upstream: UpstreamIndex, catalog: Catalog, storage: Storage,
        storage_calls: Dependency, interval: float = LIST_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.upstream = upstream
        self.catalog = catalog
        self.storage = storage
        self.storage_calls = storage_calls
        self.interval = interval
        self.clock = clock
        self.scan = Scan(0, {})
        self.scans = 0  # finished scans (for tests and the log)
        self._seen: dict[str, tuple[tuple[object, int], Listed | None]] = {}
        self._unreadable: set[str] = set()  # pages whose read failed (warned once each)
        self._due = float("-inf")
        self._task: asyncio.Task[None] | None = None
        self._lock = threading.Lock()
        self._scanning = threading.Lock()
        # The upstream names to show at (serial, scan version), until (monotonic) a
        # quarantined page comes of age; and the pages rendered with them.
        self._names: tuple[int, int, float, tuple[str, ...]] | None = None
        self._rendered: dict[tuple[str, str], tuple[int, int, float, RenderedPage]] = {}

    # -- the scan (storage) -----------------------------------------------------------------

    def current(self) -> Scan:
        """The pages as last scanned; starts the next scan when one is due (never waits)."""
        now = self.clock()
        if now >= self._due and (self._task is None or self._task.done()):
            self._due = now + self.interval
            self._task = asyncio.get_running_loop().create_task(self.refresh())
        return self.scan

    async def refresh(self) -> None:
        try:
            pages = await self.storage_calls.run(self._read)
        except PubkitError as error:
            log.warning("could not list the cached upstream pages: %s", error.message)
            return
        except Exception:  # the listing must go on; the cause goes to the log
            log.exception("could not list the cached upstream pages")
            return
        self.scans += 1
        if pages is not None:
            self.scan = Scan(self.scan.version + 1, pages)

    def _read(self) -> dict[str, Listed] | None:
        """Blocking (storage): the pages with files, or None when nothing changed."""
        with self._scanning:  # the first scan (at start) and a request's never overlap
            return self._read_once()

    def _read_once(self) -> dict[str, Listed] | None:
        seen: dict[str, tuple[tuple[object, int], Listed | None]] = {}
        changed = False
        for obj in self.storage.list(PAGES_PREFIX):
            if not obj.key.endswith(".json"):
                continue
            stamp = (obj.modified, obj.size)
            known = self._seen.get(obj.key)
            if known is not None and known[0] == stamp:
                seen[obj.key] = known
                continue
            try:
                raw = self.storage.read_bytes(obj.key)
            except NotFoundError:
                continue  # pruned meanwhile
            except PubkitError as error:
                # One page storage will not give must not stop the list: it stays as it
                # was (unlisted if new), and is tried again at the next scan.
                if known is not None:
                    seen[obj.key] = known
                if obj.key not in self._unreadable:
                    self._unreadable.add(obj.key)
                    log.warning("could not read the cached upstream page %s: %s", obj.key,
                                error.message)  # fmt: skip
                continue
            self._unreadable.discard(obj.key)
            changed = True
            seen[obj.key] = (stamp, listed(raw))
        changed = changed or seen.keys() != self._seen.keys()
        self._seen = seen
        if not changed:
            return None
        return {entry.name: entry for _, entry in seen.values() if entry is not None}

    # -- the list (catalog) -----------------------------------------------------------------

    def names(self, serial: int, scan: Scan) -> tuple[tuple[str, ...], float]:
        """Blocking (catalog) unless known: the cached upstream names the guard lets through
        at ``serial``, sorted; and until when (monotonic) they hold."""
        known = self._names
        if known is not None and known[:2] == (serial, scan.version) and (
                self.clock() < known[2]):  # fmt: skip
            return known[3], known[2]
        local = self.catalog.project_names()
        rules = self.catalog.upstream_rules()
        now, until = time.time(), float("inf")
        shown = []
        for name in sorted(scan.pages):
            rule = rules.get(name)
            if not self.upstream.from_upstream(name, name in local, rule):
                continue  # local, reserved, internal, or tracked (listed as local)
            min_age = self.upstream.min_age_for(rule)
            entry = scan.pages[name]
            if min_age <= 0 or entry.undated or (
                    entry.earliest is not None and entry.earliest <= now - min_age):  # fmt: skip
                shown.append(name)
            elif entry.earliest is not None:  # (always: a page with files, none undated)
                matures = entry.earliest + min_age - now
                until = min(until, self.clock() + matures)
        names = tuple(shown)
        self._names = (serial, scan.version, until, names)
        return names, until

    def index(
        self, pages: SimplePages, media_type: str, private: frozenset[str], serial: int,
        scan: Scan,
    ) -> RenderedPage:  # fmt: skip
        """Blocking (catalog) unless known: the project list with the upstream names."""
        key = SimplePages.index_key(media_type, private)
        with self._lock:
            known = self._rendered.get(key)
        if known is not None and known[:2] == (serial, scan.version) and (
                self.clock() < known[2]):  # fmt: skip
            return known[3]
        names, until = self.names(serial, scan)
        rendered = render_index(pages.index_page(private, serial, names), media_type, serial)
        with self._lock:
            if len(self._rendered) >= 256:
                self._rendered.clear()  # one per media type and set of private names read
            self._rendered[key] = (serial, scan.version, until, rendered)
        return rendered

    def cached_index(
        self, media_type: str, private: frozenset[str] = frozenset(), _serial: int = 0,
        _scan: Scan | None = None,
    ) -> RenderedPage:  # fmt: skip
        """The list as this worker last rendered it, whatever the serial (the catalog is not
        answering); WouldBlock when there is none."""
        with self._lock:
            known = self._rendered.get(SimplePages.index_key(media_type, private))
        if known is None:
            raise WouldBlock
        return known[3]
