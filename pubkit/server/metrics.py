"""Prometheus metrics: counted in plain dictionaries per worker, exposed at ``/metrics``.

The hot path pays for a dictionary increment and a bisect per request, nothing more: the
metrics are plain numbers in this process, turned into Prometheus' text format only when
scraped (with prometheus-client's exposition code, so names, escaping and content
negotiation are right).

With ``--workers N`` a scrape reaches one worker, so the workers share their numbers through
files: each writes a snapshot of its own (``PUBKIT_METRICS_DIR/worker-PID.json``, replaced
atomically) at most once a second while it serves and once more on every scrape, and the
scraped worker sums every snapshot in the folder. The snapshot of a worker that died stays
and keeps counting, so counters never go back; the supervisor owns the folder, adds its own
``pubkit_worker_restarts_total`` to it, and removes it when it stops. Gauges are not summed
across workers: every metric here is a counter or a histogram.

A snapshot also carries its worker's pid and time, and what else a worker shares under its
own key (:attr:`Metrics.shared`): the upstream's counts and last error, from which the admin
API's upstream status reports every worker (:mod:`pubkit.server.upstream.counts`). The
folder exists when metrics are on or an upstream is configured.
"""

from __future__ import annotations

import json
import os
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pubkit import __version__
from pubkit.server.asgi import Scope

METRICS_DIR = "PUBKIT_METRICS_DIR"
SNAPSHOT_INTERVAL = 1.0  # seconds between a worker's snapshots while it serves

ROUTES_REMEMBERED = 1024  # paths whose route class a worker remembers
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0)  # fmt: skip


@dataclass(frozen=True)
class Definition:
    name: str  # without the _total of a counter
    kind: str  # "counter" or "histogram"
    help: str
    labels: tuple[str, ...]


DEFINITIONS = {
    d.name: d
    for d in (
        Definition("pubkit_http_requests", "counter",
                   "HTTP requests answered, by route class, method and status.",
                   ("route", "method", "status")),
        Definition("pubkit_http_request_duration_seconds", "histogram",
                   "Time from a request's arrival to the end of its answer, by route class.",
                   ("route",)),
        Definition("pubkit_uploads", "counter",
                   "Uploads by outcome: stored (a new file), identical (already present) or"
                   " refused.", ("outcome",)),
        Definition("pubkit_upload_bytes", "counter", "Bytes of the files uploads stored.", ()),
        Definition("pubkit_upload_refusals", "counter",
                   "Refused uploads, by reason (from the answer's status).", ("reason",)),
        Definition("pubkit_sign_in_failures", "counter",
                   "Requests whose credentials were refused (401 with credentials sent).", ()),
        Definition("pubkit_sign_in_throttled", "counter",
                   "Requests refused by sign-in pacing (429).", ()),
        Definition("pubkit_storage_operation_duration_seconds", "histogram",
                   "Time of calls to the storage backend, by operation.", ("operation",)),
        Definition("pubkit_storage_errors", "counter",
                   "Storage calls that failed, by operation.", ("operation",)),
        Definition("pubkit_catalog_query_duration_seconds", "histogram",
                   "Time of catalog (SQL) statements, by kind.", ("statement",)),
        Definition("pubkit_catalog_errors", "counter",
                   "Catalog statements that failed, by kind.", ("statement",)),
        Definition("pubkit_page_cache_requests", "counter",
                   "Simple-page lookups in a worker's cache, by result (hit or miss).",
                   ("result",)),
        Definition("pubkit_upstream_requests", "counter",
                   "Upstream pages and files asked of a worker, by kind (page or file) and"
                   " result (hit: from the cache; fetch: asked of the upstream; error: of"
                   " those fetches, the ones the upstream failed).", ("kind", "result")),
        Definition("pubkit_worker_restarts", "counter",
                   "Workers the supervisor replaced after they exited.", ()),
    )
}  # fmt: skip

# Refused uploads, by the status of the answer.
REFUSAL_REASONS = {400: "invalid", 401: "unauthenticated", 403: "forbidden", 404: "forbidden",
                   408: "timeout", 409: "conflict", 413: "too_large", 415: "invalid",
                   429: "throttled", 431: "invalid", 503: "unavailable",
                   507: "storage_full"}  # fmt: skip


class Histogram:
    """Counts per bucket (not cumulative), their sum; what one label set observed."""

    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(LATENCY_BUCKETS, value)] += 1
        self.sum += value


class Metrics:
    """One process's numbers. Increments are not locked: under the GIL a lost increment
    needs two threads on one key at one instruction, which the event loop rules out for the
    request counters; the storage and catalog counters, updated from threads, are locked."""

    def __init__(self) -> None:
        self.counters: dict[str, dict[tuple[str, ...], float]] = {
            name: {} for name, d in DEFINITIONS.items() if d.kind == "counter"
        }
        self.histograms: dict[str, dict[tuple[str, ...], Histogram]] = {
            name: {} for name, d in DEFINITIONS.items() if d.kind == "histogram"
        }
        # (route, method, status) -> requests per latency bucket (the last: +Inf), then
        # their seconds.
        self.requests: dict[tuple[str, str, int], list[float]] = {}
        self.lock = threading.Lock()
        # path -> route class, for the paths requested most (see count_request)
        self.routes: dict[str, str] = {}
        # Numbers kept elsewhere (a page cache's hits), read when a snapshot is taken.
        self.pulled: list[Callable[[], Iterable[tuple[str, tuple[str, ...], float]]]] = []
        # Other per-worker facts shared with the snapshot, each under its own key (the
        # upstream's counts and last error, for its status): never summed by merge().
        self.shared: dict[str, Callable[[], Any]] = {}

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One answered request: the hot path's only bookkeeping, one list of one dict (the
        request counter and the latency histogram are both derived from it)."""
        key = (route, method, status)
        series = self.requests.get(key)
        if series is None:
            series = self.requests[key] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        series[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        series[-1] += seconds

    def inc(self, name: str, labels: tuple[str, ...] = (), value: float = 1.0) -> None:
        counter = self.counters[name]
        counter[labels] = counter.get(labels, 0.0) + value

    def observe(self, name: str, labels: tuple[str, ...], value: float) -> None:
        series = self.histograms[name]
        histogram = series.get(labels)
        if histogram is None:
            histogram = series[labels] = Histogram()
        histogram.observe(value)

    def snapshot(self) -> dict[str, Any]:
        """Everything as JSON-ready data: {"pid", "time", "counters": {name: [[labels,
        value]…]}, "histograms": {name: [[labels, counts, sum]…]}, and each shared key}."""
        with self.lock:  # dict() copies in one step: no "changed size during iteration"
            counters = {name: [[list(k), v] for k, v in dict(series).items()]
                        for name, series in self.counters.items()}  # fmt: skip
            histograms = {name: [[list(k), list(h.counts), h.sum]
                                 for k, h in dict(series).items()]
                          for name, series in self.histograms.items()}  # fmt: skip
        by_status: list[list[Any]] = []
        by_route: dict[str, list[float]] = {}
        for (route, method, status), series in dict(self.requests).items():
            counts = list(series)  # one copy: the event loop may add to it meanwhile
            by_status.append([[route, method, str(status)], int(sum(counts[:-1]))])
            total = by_route.setdefault(route, [0.0] * len(counts))
            for index, value in enumerate(counts):
                total[index] += value
        counters["pubkit_http_requests"] = by_status
        histograms["pubkit_http_request_duration_seconds"] = [
            [[route], [int(count) for count in total[:-1]], total[-1]]
            for route, total in by_route.items()
        ]
        for pull in self.pulled:
            for name, labels, value in pull():
                counters.setdefault(name, []).append([list(labels), value])
        snapshot: dict[str, Any] = {"pid": os.getpid(), "time": time.time(),
                                    "counters": counters, "histograms": histograms}  # fmt: skip
        for key, share in self.shared.items():
            snapshot[key] = share()
        return snapshot


# -- what a request is ----------------------------------------------------------------------


def route_class(method: str, path: str) -> str:
    """A few classes, never the path itself: labels must not grow with the index."""
    second = path[1:2]  # one comparison sends the hot paths on their way
    if second == "s" and path.startswith("/simple"):
        if path in ("/simple", "/simple/"):
            return "simple_index"
        if path[7] == "/":
            return "simple_project"
    if second == "f" and path.startswith("/files/"):
        return "metadata" if path.endswith(".metadata") else "files"
    if path in ("/", "/legacy", "/legacy/"):
        return "upload" if method == "POST" else "home"
    if path.startswith("/api/"):
        return "api"
    if path in ("/health", "/ready", "/metrics"):
        return path[1:]
    return "other"


def count_request(metrics: Metrics, scope: Scope, status: int, seconds: float) -> None:
    """One answered request (see :class:`pubkit.server.observe.Observe`): counted and timed
    by route class and status; a refusal also where it says something (sign-ins, uploads)."""
    method, path = scope["method"], scope["path"]
    route = metrics.routes.get(path)
    if route is None:
        route = route_class(method, path)
        # Remembered per path, up to a bound (paths come from clients), unless the class
        # depends on the method too.
        if route not in ("upload", "home") and len(metrics.routes) < ROUTES_REMEMBERED:
            metrics.routes[path] = route
    metrics.request(route, method, status, seconds)
    if status >= 400:
        _count_refusal(metrics, scope, route, status)


def _count_refusal(metrics: Metrics, scope: Scope, route: str, status: int) -> None:
    if status == 429:
        metrics.inc("pubkit_sign_in_throttled")
    elif status == 401 and any(name == b"authorization" for name, _ in scope["headers"]):
        metrics.inc("pubkit_sign_in_failures")
    if route == "upload":
        metrics.inc("pubkit_uploads", ("refused",))
        metrics.inc("pubkit_upload_refusals", (REFUSAL_REASONS.get(status, "other"),))


def count_upload(metrics: Metrics, created: bool, size: int) -> None:
    metrics.inc("pubkit_uploads", ("stored" if created else "identical",))
    if created:
        metrics.inc("pubkit_upload_bytes", (), size)


def statement_kind(statement: str) -> str:
    verb = statement.lstrip()[:6].upper()
    return verb.lower() if verb in ("SELECT", "INSERT", "UPDATE", "DELETE") else "other"


def instrument_engine(metrics: Metrics, engine: Any) -> None:
    """Time every SQL statement of a SQLAlchemy engine; count the ones that fail."""
    from sqlalchemy import event
    from sqlalchemy.exc import IntegrityError

    started: dict[int, float] = {}

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, *args: object) -> None:
        started[id(cursor)] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, *args: object) -> None:
        began = started.pop(id(cursor), None)
        if began is not None:
            elapsed = time.perf_counter() - began
            with metrics.lock:
                metrics.observe("pubkit_catalog_query_duration_seconds",
                                (statement_kind(statement),), elapsed)  # fmt: skip

    @event.listens_for(engine, "handle_error")
    def _error(context: Any) -> None:
        cursor = getattr(context, "cursor", None)
        if cursor is not None:
            started.pop(id(cursor), None)
        # A constraint the catalog relies on (a row that exists already) is an answer, not
        # a failing catalog: only the others count.
        if isinstance(getattr(context, "sqlalchemy_exception", None), IntegrityError):
            return
        statement = getattr(context, "statement", None) or ""
        with metrics.lock:
            metrics.inc("pubkit_catalog_errors", (statement_kind(statement),))


# -- across workers --------------------------------------------------------------------------


class Publisher:
    """Writes this worker's snapshot into the shared folder (every second, from a task on
    the worker's event loop, so never while a request is counted), and sums every snapshot
    in it."""

    def __init__(self, metrics: Metrics, folder: Path | None) -> None:
        self.metrics = metrics
        self.folder = folder
        self.path = folder / f"worker-{os.getpid()}.json" if folder is not None else None

    async def run(self) -> None:
        """Publish every SNAPSHOT_INTERVAL seconds until cancelled."""
        import anyio

        while True:
            await anyio.sleep(SNAPSHOT_INTERVAL)
            self.publish()

    def publish(self) -> None:
        if self.path is not None:
            write_snapshot(self.path, self.metrics.snapshot())

    def collect(self) -> dict[str, Any]:
        """Every worker's numbers summed (this one's, fresh)."""
        return merge(self.snapshots())

    def snapshots(self) -> list[dict[str, Any]]:
        """Every worker's snapshot, this one's first and fresh (and published); with one
        worker (no shared folder), only this one's. The supervisor's counts are one too."""
        own = self.metrics.snapshot()
        if self.folder is None or self.path is None:
            return [own]
        write_snapshot(self.path, own)
        snapshots = [own]
        for path in sorted(self.folder.glob("*.json")):
            if path != self.path:
                try:
                    snapshots.append(json.loads(path.read_bytes()))
                except (OSError, ValueError):
                    continue  # being replaced at this moment, or gone: the next scrape has it
        return snapshots


def write_snapshot(path: Path, snapshot: Mapping[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    try:
        temporary.write_text(json.dumps(snapshot))
        temporary.replace(path)
    except OSError:
        temporary.unlink(missing_ok=True)  # a full disk must not fail the request


def merge(snapshots: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    counters: dict[str, dict[tuple[str, ...], float]] = {}
    histograms: dict[str, dict[tuple[str, ...], tuple[list[int], float]]] = {}
    for snapshot in snapshots:
        for name, series in snapshot.get("counters", {}).items():
            target = counters.setdefault(name, {})
            for labels, value in series:
                key = tuple(labels)
                target[key] = target.get(key, 0.0) + value
        for name, series in snapshot.get("histograms", {}).items():
            target_h = histograms.setdefault(name, {})
            for labels, counts, total in series:
                key = tuple(labels)
                known = target_h.get(key)
                if known is None:
                    target_h[key] = (list(counts), total)
                else:
                    target_h[key] = ([a + b for a, b in zip(known[0], counts, strict=True)],
                                     known[1] + total)  # fmt: skip
    return {
        "counters": {n: [[list(k), v] for k, v in s.items()] for n, s in counters.items()},
        "histograms": {n: [[list(k), c, t] for k, (c, t) in s.items()]
                       for n, s in histograms.items()},
    }  # fmt: skip


# -- exposition ------------------------------------------------------------------------------


def families(snapshot: Mapping[str, Any]) -> Iterator[Any]:
    """prometheus-client metric families of a (merged) snapshot, every defined metric
    included even before its first event, so that dashboards and alerts find their series."""
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )

    info = GaugeMetricFamily("pubkit_build_info", "The running pubkit version.",
                             labels=["version"])  # fmt: skip
    info.add_metric([__version__], 1.0)
    yield info
    counters = snapshot.get("counters", {})
    histograms = snapshot.get("histograms", {})
    for name, definition in DEFINITIONS.items():
        labels = list(definition.labels)
        if definition.kind == "counter":
            counter = CounterMetricFamily(name, definition.help, labels=labels)
            series = counters.get(name, [])
            if not series and not labels:
                counter.add_metric([], 0.0)
            for values, value in sorted(series):
                counter.add_metric(values, value)
            yield counter
        else:
            histogram = HistogramMetricFamily(name, definition.help, labels=labels)
            for values, counts, total in sorted(histograms.get(name, [])):
                cumulative, running = [], 0
                for bound, count in zip((*map(str, LATENCY_BUCKETS), "+Inf"), counts,
                                        strict=True):  # fmt: skip
                    running += count
                    cumulative.append((bound, float(running)))
                histogram.add_metric(values, cumulative, total)
            yield histogram


def exposition(snapshot: Mapping[str, Any], accept: str | None) -> tuple[bytes, str]:
    """The text a scraper asked for (OpenMetrics when it says so) and its content type."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.exposition import choose_encoder

    class _Snapshot:
        def collect(self) -> Iterator[Any]:
            return families(snapshot)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot())
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


def metrics_folder(environ: Mapping[str, str]) -> Path | None:
    folder = environ.get(METRICS_DIR)
    return Path(folder) if folder else None
