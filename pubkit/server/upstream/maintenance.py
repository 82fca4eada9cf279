"""``pubkit upstream status|prune``: what the upstream cache holds, and removing old entries.

Status: each upstream asked once (reachable or the one-line problem), the cache's size in
storage, and, from a running server, every worker's counts summed (pages served from the
cache or fetched, files served from storage or fetched, errors, the newest last error; see
:mod:`pubkit.server.upstream.counts`). Prune: cached files whose
sidecar is older than the cutoff (sidecar first: without it the bytes are no cached file,
and a later download fetches them again), and pages as old.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from pubkit.server.layout import SIDECAR_SUFFIX
from pubkit.server.storage import Storage
from pubkit.server.upstream.client import UpstreamClient
from pubkit.server.upstream.index import FILES_PREFIX
from pubkit.server.upstream.pages import PAGES_PREFIX
from pubkit.settings import redact_url

PROBE_TIMEOUT = 5.0


@dataclass(frozen=True)
class CacheUsage:
    files: int
    bytes: int
    pages: int

    def to_json(self) -> dict[str, int]:
        return {"files": self.files, "bytes": self.bytes, "pages": self.pages}


def usage(storage: Storage) -> CacheUsage:
    files = size = pages = 0
    for obj in storage.list(".upstream/"):
        size += obj.size
        if obj.key.startswith(PAGES_PREFIX):
            pages += 1
        elif obj.key.startswith(FILES_PREFIX) and obj.key.endswith(SIDECAR_SUFFIX):
            files += 1
    return CacheUsage(files, size, pages)


def probe(url: str) -> str | None:
    """None when the upstream's simple URL answers (below 500), else the problem; its
    headers within three ``PROBE_TIMEOUT`` s (:meth:`UpstreamClient.probe`)."""
    problem: str | None = reachability([url])[0]["problem"]
    return problem


def reachability(sources: list[str]) -> list[dict[str, Any]]:
    client = UpstreamClient(PROBE_TIMEOUT)
    try:
        result = []
        for source in sources:
            problem = client.probe(source)
            result.append({"url": redact_url(source), "reachable": problem is None,
                           "problem": problem})  # fmt: skip
        return result
    finally:
        client.close()


@dataclass(frozen=True)
class PruneReport:
    files: int
    pages: int
    bytes: int
    dry_run: bool

    def to_json(self) -> dict[str, Any]:
        return {"files": self.files, "pages": self.pages, "bytes": self.bytes,
                "dry_run": self.dry_run}  # fmt: skip


def prune(storage: Storage, older_than: float, dry_run: bool = False,
          now: datetime | None = None) -> PruneReport:  # fmt: skip
    """Remove cached files and pages last written more than ``older_than`` seconds ago."""
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(seconds=older_than)
    objects = {obj.key: obj for obj in storage.list(".upstream/")}

    def old(key: str) -> bool:
        modified = objects[key].modified
        return modified is not None and modified < cutoff

    files = pages = size = 0
    for key in sorted(objects):
        if key.startswith(PAGES_PREFIX) and old(key):
            pages += 1
            size += objects[key].size
            if not dry_run:
                storage.delete(key)
        elif key.startswith(FILES_PREFIX) and key.endswith(SIDECAR_SUFFIX) and old(key):
            data_key = key[: -len(SIDECAR_SUFFIX)]
            files += 1
            size += objects[key].size + (objects[data_key].size if data_key in objects else 0)
            if not dry_run:
                storage.delete(key)
                storage.delete(data_key)
    return PruneReport(files, pages, size, dry_run)
