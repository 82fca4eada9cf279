"""The metrics' pure parts: route classes, per-worker numbers, merging snapshots across
workers, and the exposition as Prometheus' own parser reads it."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pubkit.server.metrics import (
    DEFINITIONS,
    LATENCY_BUCKETS,
    Metrics,
    Publisher,
    exposition,
    merge,
    route_class,
    statement_kind,
)


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/simple/", "simple_index"),
        ("GET", "/simple", "simple_index"),
        ("GET", "/simple/acme-core/", "simple_project"),
        ("GET", "/files/acme-core/acme_core-1.0-py3-none-any.whl", "files"),
        ("GET", "/files/acme-core/acme_core-1.0-py3-none-any.whl.metadata", "metadata"),
        ("POST", "/", "upload"),
        ("POST", "/legacy/", "upload"),
        ("GET", "/", "home"),
        ("GET", "/api/v1/users", "api"),
        ("GET", "/health", "health"),
        ("GET", "/ready", "ready"),
        ("GET", "/metrics", "metrics"),
        ("GET", "/wp-login.php", "other"),
        ("GET", "/simplex", "other"),
    ],
)
def test_route_classes_never_carry_the_path(method: str, path: str, expected: str) -> None:
    assert route_class(method, path) == expected


def families(text: bytes) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """name -> {sorted labels -> value}, samples as the Prometheus parser reads them."""
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_requests_become_a_counter_and_a_histogram() -> None:
    metrics = Metrics()
    metrics.request("simple_project", "GET", 200, 0.0004)
    metrics.request("simple_project", "GET", 200, 0.03)
    metrics.request("simple_project", "GET", 304, 0.0002)
    metrics.request("upload", "POST", 409, 0.2)
    text, content_type = exposition(metrics.snapshot(), None)
    assert content_type.startswith("text/plain")
    samples = families(text)
    requests = samples["pubkit_http_requests_total"]
    assert requests[(("method", "GET"), ("route", "simple_project"), ("status", "200"))] == 2
    assert requests[(("method", "GET"), ("route", "simple_project"), ("status", "304"))] == 1
    buckets = samples["pubkit_http_request_duration_seconds_bucket"]
    assert buckets[(("le", "0.001"), ("route", "simple_project"))] == 2
    assert buckets[(("le", "0.05"), ("route", "simple_project"))] == 3
    assert buckets[(("le", "+Inf"), ("route", "upload"))] == 1
    count = samples["pubkit_http_request_duration_seconds_count"]
    assert count[(("route", "simple_project"),)] == 3
    total = samples["pubkit_http_request_duration_seconds_sum"][(("route", "simple_project"),)]
    assert total == pytest.approx(0.0306)
    assert samples["pubkit_build_info"]


def test_every_defined_metric_is_exposed_before_its_first_event() -> None:
    # Dashboards and alert rules must find their series on a fresh server.
    text, _ = exposition(Metrics().snapshot(), None)
    names = {family.name for family in text_string_to_metric_families(text.decode())}
    assert set(DEFINITIONS) <= names


def test_openmetrics_when_the_scraper_asks_for_it() -> None:
    text, content_type = exposition(Metrics().snapshot(), "application/openmetrics-text")
    assert content_type.startswith("application/openmetrics-text")
    assert text.rstrip().endswith(b"# EOF")


def test_workers_sum_through_their_snapshots_and_a_dead_worker_still_counts(
    tmp_path: Path,
) -> None:
    first, second = Metrics(), Metrics()
    one = Publisher(first, tmp_path)
    two = Publisher(second, tmp_path)
    two.path = tmp_path / "worker-2.json"  # two processes' files, in one test process
    first.request("files", "GET", 200, 0.01)
    second.request("files", "GET", 200, 0.02)
    second.inc("pubkit_upload_bytes", (), 100.0)
    two.publish()
    merged = one.collect()
    samples = families(exposition(merged, None)[0])
    key = (("method", "GET"), ("route", "files"), ("status", "200"))
    assert samples["pubkit_http_requests_total"][key] == 2
    assert samples["pubkit_upload_bytes_total"][()] == 100
    # The second worker is gone; its last snapshot stays, so the sum never goes back.
    del second
    first.request("files", "GET", 200, 0.01)
    samples = families(exposition(one.collect(), None)[0])
    assert samples["pubkit_http_requests_total"][key] == 3


def test_a_torn_snapshot_is_skipped_not_fatal(tmp_path: Path) -> None:
    metrics = Metrics()
    (tmp_path / "worker-9.json").write_text('{"counters": ')
    metrics.request("home", "GET", 200, 0.001)
    merged = Publisher(metrics, tmp_path).collect()
    assert families(exposition(merged, None)[0])["pubkit_http_requests_total"]


def test_merge_adds_histograms_bucket_by_bucket() -> None:
    size = len(LATENCY_BUCKETS) + 1
    a = {"histograms": {"h": [[["x"], [1] + [0] * (size - 1), 0.5]]}}
    b = {"histograms": {"h": [[["x"], [2] + [0] * (size - 1), 0.25]]}}
    merged = merge([a, b])
    assert merged["histograms"]["h"] == [[["x"], [3] + [0] * (size - 1), 0.75]]


@pytest.mark.parametrize(
    ("statement", "kind"),
    [("SELECT 1", "select"), ("  insert into x", "insert"), ("UPDATE t", "update"),
     ("DELETE FROM t", "delete"), ("BEGIN IMMEDIATE", "other"), ("", "other")],
)  # fmt: skip
def test_statement_kinds(statement: str, kind: str) -> None:
    assert statement_kind(statement) == kind


def test_catalog_statements_are_timed_and_failures_counted_but_not_constraints() -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import IntegrityError, OperationalError

    from pubkit.server.metrics import instrument_engine

    metrics = Metrics()
    engine = create_engine("sqlite://")
    instrument_engine(metrics, engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (k INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
        conn.execute(text("SELECT k FROM t")).all()
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))  # a row that exists: an answer
    with pytest.raises(OperationalError), engine.begin() as conn:
        conn.execute(text("SELECT nothing FROM nowhere"))  # a failing catalog
    snapshot = metrics.snapshot()
    timed = {tuple(labels): sum(counts) for labels, counts, _ in
             snapshot["histograms"]["pubkit_catalog_query_duration_seconds"]}  # fmt: skip
    assert timed[("select",)] >= 1 and timed[("insert",)] >= 1
    assert snapshot["counters"]["pubkit_catalog_errors"] == [[["select"], 1.0]]


def test_route_classes_are_remembered_per_path_up_to_a_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pubkit.server.metrics as metrics_module

    monkeypatch.setattr(metrics_module, "ROUTES_REMEMBERED", 2)
    metrics = Metrics()

    def answer(method: str, path: str, status: int = 200) -> None:
        metrics_module.count_request(metrics, {"method": method, "path": path, "headers": []},
                                     status, 0.001)  # fmt: skip

    answer("GET", "/simple/a/")
    answer("GET", "/simple/a/")
    answer("GET", "/")  # its class depends on the method: never remembered
    answer("POST", "/", 409)
    answer("GET", "/files/a/a-1.0.tar.gz")
    answer("GET", "/health")  # past the bound: counted, not remembered
    assert metrics.routes == {"/simple/a/": "simple_project", "/files/a/a-1.0.tar.gz": "files"}
    series = metrics.snapshot()["counters"]["pubkit_http_requests"]
    counted = {tuple(labels): value for labels, value in series}
    assert counted == {
        ("simple_project", "GET", "200"): 2,
        ("home", "GET", "200"): 1,
        ("upload", "POST", "409"): 1,
        ("files", "GET", "200"): 1,
        ("health", "GET", "200"): 1,
    }
    assert metrics.counters["pubkit_uploads"] == {("refused",): 1.0}
