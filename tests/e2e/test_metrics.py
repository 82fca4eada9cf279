"""/metrics of a real two-worker server after real traffic: the numbers are right summed
across workers, survive a worker's death, pass `promtool check metrics`, and hold every
series the example alert rules and Grafana dashboard use (which pass `promtool check rules`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from pubkit.testing import LiveServer, make_wheel
from tests.e2e.support import PASSWORDS, start_server
from tests.server.conftest import upload_fields

pytestmark = pytest.mark.e2e

MONITORING = Path(__file__).parents[2] / "examples" / "kubernetes" / "monitoring"
PAGE_REQUESTS = 40

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("metrics") / "data", "--workers", "2",
                        timeout=120)  # fmt: skip
    try:
        yield live
    finally:
        live.stop()


def scrape(server: LiveServer) -> tuple[str, Samples]:
    answer = requests.get(server.url + "metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return answer.text, samples


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for k, v in samples.get(name, {}).items() if wanted <= set(k))


def eventually(server: LiveServer, check: object, timeout: float = 15.0) -> Samples:
    """Scrape until ``check(samples)`` holds: the other worker publishes once a second."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while True:
        _, samples = scrape(server)
        if check(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.3)


@pytest.fixture(scope="module")
def traffic(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Samples:
    wheel = make_wheel(tmp_path_factory.mktemp("dists"), "metered", "1.0")
    files = {"content": (wheel.name, wheel.read_bytes(), "application/octet-stream")}
    fields = upload_fields(wheel)
    alice = ("alice", PASSWORDS["alice"])
    assert requests.post(server.url, data=fields, files=files, auth=alice, timeout=30).ok
    assert requests.post(server.url, data=fields, files=files, auth=alice, timeout=30).ok
    refused = requests.post(server.url, data=fields, files=files, auth=("alice", "wrong"),
                            timeout=30)  # fmt: skip
    assert refused.status_code == 401
    for _ in range(PAGE_REQUESTS):  # a new connection each: both workers serve some
        page = requests.get(server.url + "simple/metered/", timeout=10,
                            headers={"Connection": "close"})  # fmt: skip
        assert page.status_code == 200
    download = requests.get(f"{server.url}files/metered/{wheel.name}", timeout=10)
    assert download.content == wheel.read_bytes()
    return eventually(server, lambda s: total(
        s, "pubkit_http_requests_total", route="simple_project") >= PAGE_REQUESTS)


def test_requests_uploads_and_sign_ins_are_counted_across_workers(
    traffic: Samples, server: LiveServer
) -> None:
    pages = total(traffic, "pubkit_http_requests_total", route="simple_project", status="200")
    assert pages == PAGE_REQUESTS
    assert total(traffic, "pubkit_http_request_duration_seconds_count",
                 route="simple_project") == PAGE_REQUESTS  # fmt: skip
    assert total(traffic, "pubkit_uploads_total", outcome="stored") == 1
    assert total(traffic, "pubkit_uploads_total", outcome="identical") == 1
    assert total(traffic, "pubkit_uploads_total", outcome="refused") == 1
    assert total(traffic, "pubkit_upload_refusals_total", reason="unauthenticated") == 1
    assert total(traffic, "pubkit_sign_in_failures_total") == 1
    wheel_size = total(traffic, "pubkit_upload_bytes_total")
    assert wheel_size > 0
    assert total(traffic, "pubkit_page_cache_requests_total", result="hit") > 0
    # Storage and catalog calls were timed: the upload stored, the download read.
    assert total(traffic, "pubkit_storage_operation_duration_seconds_count",
                 operation="put_new") >= 1  # fmt: skip
    assert total(traffic, "pubkit_catalog_query_duration_seconds_count", statement="select") > 0
    errors = traffic.get("pubkit_storage_errors_total")
    assert total(traffic, "pubkit_storage_errors_total") == 0, errors
    assert total(traffic, "pubkit_worker_restarts_total") == 0


def test_promtool_finds_nothing_to_lint(traffic: Samples, server: LiveServer) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian's prometheus package; .ci/run installs it)")
    text, _ = scrape(server)
    done = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_a_dead_workers_counts_stay_and_the_restart_is_counted(
    traffic: Samples, server: LiveServer
) -> None:
    assert server.process is not None
    before = total(traffic, "pubkit_http_requests_total")
    children = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True,
                              text=True, check=False).stdout.split()  # fmt: skip
    assert len(children) == 2, children
    os.kill(int(children[0]), signal.SIGKILL)
    samples = eventually(server, lambda s: total(s, "pubkit_worker_restarts_total") >= 1)
    assert total(samples, "pubkit_worker_restarts_total") == 1
    # Counters never go back: the killed worker's last snapshot still counts.
    assert total(samples, "pubkit_http_requests_total") >= before


# -- the example rules and dashboard ---------------------------------------------------------


def rule_groups() -> dict[str, object]:
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    assert rule["kind"] == "PrometheusRule"
    return {"groups": rule["spec"]["groups"]}


def expressions() -> list[str]:
    found = [r["expr"] for g in rule_groups()["groups"] for r in g["rules"]]  # type: ignore[index]
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    found += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    return found


def test_promtool_accepts_the_alert_rules(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian's prometheus package; .ci/run installs it)")
    rules = tmp_path / "pubkit.rules.yaml"
    rules.write_text(yaml.safe_dump(rule_groups()))
    done = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


UPSTREAM_RULE_TESTS = """
rule_files: [pubkit.rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # Failing: every fetch of pages and files fails; hits from the cache go on.
      - series: 'pubkit_upstream_requests_total{kind="page",result="fetch"}'
        values: '0+10x30'
      - series: 'pubkit_upstream_requests_total{kind="page",result="error"}'
        values: '0+10x30'
      - series: 'pubkit_upstream_requests_total{kind="file",result="fetch"}'
        values: '0+4x30'
      - series: 'pubkit_upstream_requests_total{kind="file",result="error"}'
        values: '0+3x30'
      - series: 'pubkit_upstream_requests_total{kind="page",result="hit"}'
        values: '0+100x30'
    alert_rule_test:
      - eval_time: 5m
        alertname: PubkitUpstreamFailing
        exp_alerts: []
      - eval_time: 20m
        alertname: PubkitUpstreamFailing
        exp_alerts:
          - exp_labels: {severity: warning}
            exp_annotations:
              summary: Most of pubkit's requests to its upstream index fail
              description: DESCRIPTION
  - interval: 1m
    input_series:
      # Healthy: a few errors among many fetches.
      - series: 'pubkit_upstream_requests_total{kind="page",result="fetch"}'
        values: '0+10x30'
      - series: 'pubkit_upstream_requests_total{kind="page",result="error"}'
        values: '0+1x30'
      - series: 'pubkit_upstream_requests_total{kind="file",result="error"}'
        values: '0+0x30'
    alert_rule_test:
      - eval_time: 20m
        alertname: PubkitUpstreamFailing
        exp_alerts: []
"""


def test_promtool_fires_upstream_failing_only_when_most_fetches_fail(tmp_path: Path) -> None:
    """``promtool test rules`` on the upstream alert: page and file errors both count."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian's prometheus package; .ci/run installs it)")
    (tmp_path / "pubkit.rules.yaml").write_text(yaml.safe_dump(rule_groups()))
    groups: Any = rule_groups()["groups"]
    rule = next(r for g in groups for r in g["rules"] if r.get("alert") == "PubkitUpstreamFailing")
    # (10 + 3) / (10 + 4) of the fetches failed: page and file errors both count.
    described = rule["annotations"]["description"].replace(
        "{{ $value | humanizePercentage }}", "92.86%")  # fmt: skip
    tests = tmp_path / "upstream.test.yaml"
    tests.write_text(UPSTREAM_RULE_TESTS.replace("DESCRIPTION", json.dumps(described)))
    done = subprocess.run([promtool, "test", "rules", str(tests)], capture_output=True,
                          text=True, timeout=60, check=False, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_series_the_rules_and_dashboard_use_exists(
    traffic: Samples, server: LiveServer
) -> None:
    text, _ = scrape(server)
    exposed = {family.name for family in text_string_to_metric_families(text)}
    suffixes = ("_total", "_bucket", "_count", "_sum")
    used = {name for expr in expressions() for name in re.findall(r"\bpubkit_[a-z_]+", expr)}
    assert used
    for name in used:
        base = next((name.removesuffix(s) for s in suffixes if name.endswith(s)), name)
        assert base in exposed, f"{name} is used by a rule or panel but /metrics has no {base}"
