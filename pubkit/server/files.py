"""Downloads of distributions and their core metadata, as a bare ASGI app.

pip fetches a file (or its ``.metadata``) for every requirement it installs, so like the
simple pages this path skips the framework: a cached catalog lookup, then the bytes. Small
files go out in one message; large ones are streamed in chunks read off the event loop.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from typing import BinaryIO
from urllib.parse import unquote

from pubkit.errors import NotFoundError, PubkitError
from pubkit.server.asgi import (
    ReadOnlyApp,
    Scope,
    Send,
    header,
    send_redirect,
    send_response,
)
from pubkit.server.catalog import Catalog
from pubkit.server.layout import METADATA_SUFFIX, FileRecord, file_key, metadata_key
from pubkit.server.services import Services
from pubkit.server.storage.base import Presigning

log = logging.getLogger("pubkit.server")

PREFIX = "/files/"
CHUNK = 1024 * 1024
# Files up to this size are read in one go on the event loop: from the page cache that takes
# microseconds, less than a hop to a worker thread.
INLINE_LIMIT = 256 * 1024
OCTET_STREAM = b"application/octet-stream"
METADATA_TYPE = b"text/plain; charset=utf-8"


class FileRecords:
    """Catalog file lookups, cached per worker and revalidated against the catalog serial."""

    def __init__(self, catalog: Catalog, max_entries: int = 2048) -> None:
        self.catalog = catalog
        self.max_entries = max_entries
        self._records: OrderedDict[str, FileRecord | None] = OrderedDict()
        self._serial = -1
        self._lock = threading.Lock()

    def get(self, filename: str, serial: int | None = None) -> FileRecord | None:
        if serial is None:
            serial = self.catalog.serial()
        with self._lock:
            if serial != self._serial:
                # Yanks and new uploads change records; refetching is cheap, staleness is not.
                self._records.clear()
                self._serial = serial
            elif filename in self._records:
                self._records.move_to_end(filename)
                return self._records[filename]
        record = self.catalog.file(filename)
        with self._lock:
            if self._serial == serial:
                self._records[filename] = record
                while len(self._records) > self.max_entries:
                    self._records.popitem(last=False)
        return record


class PresignedUrls:
    """Presigned download URLs, one per file per half validity period in this worker: the
    same URL for repeated downloads, so clients' HTTP caches (keyed by URL) keep hitting."""

    def __init__(self, storage: Presigning, seconds: int, max_entries: int = 4096) -> None:
        self.storage = storage
        self.seconds = seconds
        self.max_entries = max_entries
        self._urls: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def cached(self, key: str) -> str | None:
        found = self._urls.get(key)
        return found[0] if found is not None and time.monotonic() < found[1] else None

    def url(self, key: str) -> str:
        """Blocking on a miss: signing may first fetch the credentials (an instance role)."""
        now = time.monotonic()
        cached = self._urls.get(key)
        if cached is not None and now < cached[1]:
            return cached[0]
        url = self.storage.presigned_url(key, self.seconds)
        self._urls[key] = (url, now + self.seconds / 2)
        self._urls.move_to_end(key)
        while len(self._urls) > self.max_entries:
            self._urls.popitem(last=False)
        return url


def _headers(etag: str, public: bool, content_type: bytes) -> list[tuple[bytes, bytes]]:
    # Files never change once published, so clients and proxies may keep them forever.
    scope = b"public" if public else b"private"
    return [
        (b"content-type", content_type),
        (b"etag", f'"{etag}"'.encode()),
        (b"cache-control", scope + b", max-age=31536000, immutable"),
    ]


def _not_modified(scope: Scope, etag: str) -> bool:
    sent = header(scope, b"if-none-match")
    return sent is not None and f'"{etag}"' in (tag.strip() for tag in sent.split(","))


async def _send_not_modified(send: Send, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": 304, "headers": headers[1:]})
    await send({"type": "http.response.body", "body": b""})


def _missing(scope: Scope, filename: str) -> NotFoundError:
    return NotFoundError(f"{filename or scope['path']} is not on this index")


class FilesApp(ReadOnlyApp):
    served = "files are"
    action = "download"

    def __init__(self, services: Services) -> None:
        self.services = services
        self.records = FileRecords(services.catalog)
        storage, settings = services.storage, services.settings
        self.presigned: PresignedUrls | None = None
        if settings.download_mode == "redirect" and isinstance(storage, Presigning):
            self.presigned = PresignedUrls(storage, settings.presign_seconds)

    async def _handle(self, scope: Scope, send: Send) -> None:
        project, _, filename = unquote(scope["path"][len(PREFIX) :]).partition("/")
        services = self.services
        current = services.serials.now() or await services.serials.current()
        serial, stale = current.value, not current.fresh
        # A private project hidden from this principal answers as a missing file does.
        try:
            principal = await services.reader(scope, project, serial, stale)
        except NotFoundError:
            raise _missing(scope, filename) from None
        want_metadata = filename.endswith(METADATA_SUFFIX)
        dist_name = filename[: -len(METADATA_SUFFIX)] if want_metadata else filename
        calls = services.catalog_calls
        record = (
            await calls.offload(self.records.get, dist_name, serial, stale=stale)
            if dist_name
            else None
        )
        # Only files whose catalog row is committed exist, and only at their own path.
        if (
            record is None
            or project != record.project
            or (want_metadata and not record.metadata_sha256)
        ):
            absent = await services.absent(scope, principal, project, serial, stale)
            raise _missing(scope, filename) if isinstance(absent, NotFoundError) else absent
        private = services.permissions.known_private_projects(serial)
        if private is None:
            private = await calls.offload(
                services.permissions.private_projects, serial, stale=stale
            )
        public = services.settings.read == "public" and project not in private
        include_body = scope["method"] != "HEAD"
        if want_metadata:
            assert record.metadata_sha256 is not None
            headers = _headers(record.metadata_sha256, public, METADATA_TYPE)
            if _not_modified(scope, record.metadata_sha256):
                await _send_not_modified(send, headers)
                return
            key = metadata_key(record.project, record.filename)
            storage = services.storage
            if storage.local_path(key) is not None:
                body = storage.read_bytes(key)  # a local file: microseconds from the page cache
            else:
                body = await services.storage_calls.run(storage.read_bytes, key)
            await send_response(send, 200, body, headers, include_body)
            return
        headers = _headers(record.sha256, public, OCTET_STREAM)
        if _not_modified(scope, record.sha256):
            await _send_not_modified(send, headers)
            return
        if self.presigned is not None:
            key = file_key(record.project, record.filename)
            location = self.presigned.cached(key)
            if location is None:
                location = await services.storage_calls.run(self.presigned.url, key)
            await send_redirect(send, location)
            return
        await self._send_file(send, record, headers, include_body)

    async def _send_file(
        self, send: Send, record: FileRecord, headers: list[tuple[bytes, bytes]], body: bool
    ) -> None:
        key = file_key(record.project, record.filename)
        await send_stored(self.services, send, key, record.size, record.filename, headers, body)


async def send_stored(
    services: Services, send: Send, key: str, size: int, filename: str,
    headers: list[tuple[bytes, bytes]], body: bool,
) -> None:  # fmt: skip
    """The stored object ``key`` (``size`` bytes) as a 200: small local files in one go,
    the rest streamed in chunks read off the event loop."""
    storage = services.storage
    path = storage.local_path(key)
    if path is not None and size <= INLINE_LIMIT:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = b""
        if len(data) != size:
            raise _damaged(filename)
        await send_response(send, 200, data, headers, body)
        return
    calls = services.storage_calls
    stream: BinaryIO = await calls.run(storage.open, key)
    try:
        stored = os.fstat(stream.fileno()).st_size if path is not None else size
        if stored != size:
            raise _damaged(filename)
        start = [(b"content-length", str(size).encode()), *headers]
        await send({"type": "http.response.start", "status": 200, "headers": start})
        if not body:
            await send({"type": "http.response.body", "body": b""})
            return
        sent = 0
        while True:
            # Network streams (S3) may return short reads: count to the known size.
            try:
                chunk = await calls.run(stream.read, CHUNK)
            except PubkitError as error:
                # The status is sent: all that is left is to end the response short,
                # which the client sees as a broken download (and retries).
                log.warning("download of %s broke off: %s", filename, error.message)
                return
            sent += len(chunk)
            more = bool(chunk) and sent < size
            await send({"type": "http.response.body", "body": chunk, "more_body": more})
            if not more:
                return
    finally:
        stream.close()


def _damaged(filename: str) -> PubkitError:
    from pubkit.errors import StorageError

    return StorageError(
        f"{filename} is listed but missing or damaged in storage; restore it from a"
        " backup or run `pubkit index rebuild`"
    )
