"""``/upstream/files/<project>/<filename>[.metadata]``: the upstream's files, as a bare ASGI app.

Cache mode: a file's first download fetches it from the upstream (in the upstream's bounded
threads, into the spool, every advertised digest checked), stores it under
``.upstream/files/<project>/<filename>`` with a sidecar (``….json``: the digests, the size,
where it came from), and serves it from storage; later downloads, and every download while
the upstream is down, come from storage. The same goes for a file's PEP 658 metadata, when
the upstream offers it. Redirect mode: a 302 to the upstream's URL.

The guard is asked on every request: a name that became local (uploaded, reserved, an
internal pattern) is never served from the upstream again, cached or not.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote

from pubkit.errors import NotFoundError, PubkitError, UpstreamError
from pubkit.server import spool
from pubkit.server.asgi import ReadOnlyApp, Scope, Send, send_redirect
from pubkit.server.commit import put_new_bytes
from pubkit.server.files import (
    METADATA_TYPE,
    OCTET_STREAM,
    _headers,
    _not_modified,
    _send_not_modified,
    send_stored,
)
from pubkit.server.layout import METADATA_SUFFIX, SIDECAR_SUFFIX
from pubkit.server.services import Services
from pubkit.server.upstream.client import UpstreamFile, verify
from pubkit.server.upstream.index import LOCAL, UPSTREAM_FILES, UpstreamIndex, cached_key

log = logging.getLogger("pubkit.server")

MAX_FILE = 8 * 1024**3
SIDECAR_FORMAT = 1


@dataclass(frozen=True)
class Cached:
    sha256: str
    size: int


class UpstreamFilesApp(ReadOnlyApp):
    served = "files are"
    action = "upstream download"

    def __init__(self, services: Services) -> None:
        assert services.upstream is not None
        self.services = services
        self.upstream: UpstreamIndex = services.upstream
        self._known: OrderedDict[str, Cached] = OrderedDict()
        self._flights: dict[str, asyncio.Task[Cached]] = {}
        self._lock = threading.Lock()

    async def _handle(self, scope: Scope, send: Send, again: bool = True) -> None:
        name, _, filename = unquote(scope["path"][len(UPSTREAM_FILES) :]).partition("/")
        services, upstream = self.services, self.upstream
        current = services.serials.now() or await services.serials.current()
        serial, stale = current.value, not current.fresh
        missing = NotFoundError(f"{filename or scope['path']} is not on this index")
        try:
            await services.reader(scope, name, serial, stale)
        except NotFoundError:
            raise missing from None
        if not name or not filename or "/" in filename or filename.startswith("."):
            raise missing
        decision = upstream.known_decision(name, serial)
        if decision is None:
            decision = await services.catalog_calls.offload(upstream.decide, name, serial,
                                                            stale=stale)  # fmt: skip
        if decision == LOCAL:
            raise missing
        want_metadata = filename.endswith(METADATA_SUFFIX)
        dist = filename[: -len(METADATA_SUFFIX)] if want_metadata else filename
        if upstream.mode == "redirect":
            file = await upstream.offered_file(name, dist)
            if file is None:
                raise missing
            await send_redirect(send, file.url + (METADATA_SUFFIX if want_metadata else ""))
            return
        key = cached_key(name, filename)
        cached = await self._cached(key)
        remembered = cached is not None
        if cached is None:
            file = await upstream.offered_file(name, dist)
            if file is None or (want_metadata and file.metadata_hashes is None):
                raise missing
            stats = upstream.pages.stats
            stats.file_fetches += 1
            try:
                cached = await self._fetch(key, name, file, want_metadata)
            except PubkitError as error:
                stats.file_errors += 1
                stats.failed(error.message)
                raise
        else:
            upstream.pages.stats.file_hits += 1
        public = services.settings.read == "public"
        headers = _headers(cached.sha256, public, METADATA_TYPE if want_metadata else OCTET_STREAM)
        if _not_modified(scope, cached.sha256):
            await _send_not_modified(send, headers)
            return
        try:
            await send_stored(services, send, key, cached.size, dist, headers,
                              scope["method"] != "HEAD")  # fmt: skip
        except PubkitError:
            # Gone from storage since this worker saw it (pruned): fetched again, once.
            # (send_stored raises only before it starts the answer.)
            if not (remembered and again):
                raise
            self._forget(key)
            await self._handle(scope, send, again=False)

    async def _cached(self, key: str) -> Cached | None:
        """What storage holds for ``key`` (its sidecar, read once per worker), or None."""
        with self._lock:
            known = self._known.get(key)
        if known is not None:
            return known
        storage = self.services.storage
        try:
            raw = await self.services.storage_calls.run(storage.read_bytes, key + SIDECAR_SUFFIX)
        except NotFoundError:
            return None
        try:
            data = json.loads(raw)
            found = Cached(str(data["sha256"]), int(data["size"]))
        except (ValueError, KeyError, TypeError):
            log.warning("the upstream cache's sidecar %s is unreadable; fetching again", key)
            return None
        self._remember(key, found)
        return found

    def _forget(self, key: str) -> None:
        with self._lock:
            self._known.pop(key, None)

    def _remember(self, key: str, found: Cached) -> None:
        with self._lock:
            self._known[key] = found
            self._known.move_to_end(key)
            while len(self._known) > 16384:
                self._known.popitem(last=False)

    async def _fetch(self, key: str, name: str, file: UpstreamFile, metadata: bool) -> Cached:
        """One fetch per key at a time, shared, and finished even if its requester leaves."""
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.get_running_loop().create_task(self._store(key, name, file, metadata))
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._landed(key, done))
        return await asyncio.shield(flight)

    def _landed(self, key: str, flight: asyncio.Task[Cached]) -> None:
        self._flights.pop(key, None)
        if not flight.cancelled() and flight.exception() is not None:
            log.debug("the upstream fetch of %s failed: %s", key, flight.exception())

    async def _store(self, key: str, name: str, file: UpstreamFile, metadata: bool) -> Cached:
        services, upstream = self.services, self.upstream
        page = upstream.pages.known(name)
        source = page.source if page is not None and page.source else upstream.pages.sources[0]
        url = file.url + (METADATA_SUFFIX if metadata else "")
        advertised = (file.metadata_hashes or {}) if metadata else file.hashes
        what = f"{file.filename}{METADATA_SUFFIX if metadata else ''}"
        fd, path = spool.create(services.settings.tmp_dir, "upstream")
        os.close(fd)
        try:
            digests = await upstream.pages.calls.run(
                _download, upstream, url, path, source, advertised, what)
            size = path.stat().st_size
            sidecar = json.dumps({
                "format": SIDECAR_FORMAT, "filename": what, "url": url,
                "sha256": digests["sha256"], "size": size, "advertised": advertised,
                "fetched": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }, sort_keys=True, indent=1).encode()  # fmt: skip
            await services.storage_calls.run(_put, services, key, path, sidecar)
        finally:
            path.unlink(missing_ok=True)
        found = Cached(digests["sha256"], size)
        self._remember(key, found)
        log.info("cached %s from the upstream (%d bytes)", what, size)
        return found


def _download(upstream: UpstreamIndex, url: str, path: Path, source: str,
              advertised: dict[str, str], what: str) -> dict[str, str]:  # fmt: skip
    digests = upstream.client.download(url, path, MAX_FILE, source)
    verify(advertised, digests, what)
    if not advertised:
        raise UpstreamError(f"the upstream page gives no digest for {what}; it is not cached")
    return digests


def _put(services: Services, key: str, path: Path, sidecar: bytes) -> None:
    """The bytes (over any orphan: without a sidecar nothing owns the key), then the sidecar
    (create-if-absent: a racer's, for the same verified bytes, is kept)."""
    storage = services.storage
    storage.replace(key, path)
    put_new_bytes(storage, key + SIDECAR_SUFFIX, sidecar, services.settings.tmp_dir)
