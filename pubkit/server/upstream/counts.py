"""The upstream's counts of every worker, for ``GET /api/v1/upstream``.

Each worker shares its :class:`~pubkit.server.upstream.pages.UpstreamStats` in its metrics
snapshot (``"upstream"``, see :mod:`pubkit.server.metrics`), written once a second and on
every status request; the worker that answers sums every snapshot in the shared folder, its
own fresh. A worker that died keeps its last snapshot (its counts stay in the sums, like
Prometheus' counters never going back) and is shown as not running.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pubkit.server.spool import process_alive
from pubkit.server.upstream.pages import UpstreamStats

SHARED_KEY = "upstream"


def iso(when: float | None) -> str | None:
    if when is None:
        return None
    return datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="seconds")


def shared(stats: UpstreamStats) -> dict[str, Any]:
    """What a worker puts in its snapshot."""
    last = None
    if stats.last_error is not None:
        last = {"message": stats.last_error, "time": stats.last_error_time}
    return {
        "pages": {"hits": stats.hits, "fetches": stats.fetches, "errors": stats.errors},
        "files": {"hits": stats.file_hits, "fetches": stats.file_fetches,
                  "errors": stats.file_errors},
        "last_error": last,
    }  # fmt: skip


def _error(last: Any, pid: int) -> dict[str, Any] | None:
    if not isinstance(last, dict) or not isinstance(last.get("message"), str):
        return None
    when = last.get("time")
    return {"message": last["message"], "time": iso(float(when)) if when is not None else None,
            "worker": pid, "_at": float(when or 0.0)}  # fmt: skip


def summed(snapshots: list[dict[str, Any]], own_pid: int, every_worker: bool) -> dict[str, Any]:
    """The status's counts: ``pages`` and ``files`` summed over the workers' snapshots,
    the newest ``last_error`` of any, and ``counted`` (who answered, each worker's own)."""
    pages = {"hits": 0, "fetches": 0, "errors": 0}
    files = {"hits": 0, "fetches": 0, "errors": 0}
    workers: list[dict[str, Any]] = []
    newest: dict[str, Any] | None = None
    for snapshot in snapshots:
        counts = snapshot.get(SHARED_KEY)
        pid = snapshot.get("pid")
        if not isinstance(counts, dict) or not isinstance(pid, int):
            continue  # the supervisor's, or a worker without an upstream
        worker_pages = {key: int(counts.get("pages", {}).get(key, 0)) for key in pages}
        worker_files = {key: int(counts.get("files", {}).get(key, 0)) for key in files}
        for key in pages:
            pages[key] += worker_pages[key]
            files[key] += worker_files[key]
        error = _error(counts.get("last_error"), pid)
        if error is not None and (newest is None or error["_at"] > newest["_at"]):
            newest = error
        workers.append({
            "pid": pid, "running": pid == own_pid or process_alive(pid),
            "as_of": iso(snapshot.get("time")), "pages": worker_pages, "files": worker_files,
            "last_error": None if error is None else {k: v for k, v in error.items()
                                                      if k not in ("_at", "worker")},
        })  # fmt: skip
    last_error = None if newest is None else {k: v for k, v in newest.items() if k != "_at"}
    return {
        "pages": pages,
        "files": files,
        "last_error": last_error,
        "counted": {"every_worker": every_worker, "answered_by": own_pid, "workers": workers},
    }
