"""What ``--upstream-list-cached`` costs on ``GET /simple/``: the same data, served with the
option off and on in turns, a sequential loop of requests on one keep-alive connection each
(client-side latency: median and 99th percentile, per round, so the spread shows the noise);
and the first request after each of ``--changes`` uploads, when the list is rendered again.

    .venv/bin/python bench/upstream_list.py [--local 50] [--cached 500] [--requests 2000]
                                            [--rounds 3]

A static upstream index (tests/upstream_support.py) with ``--cached`` projects, every page
asked once through pubkit (so cached in storage), and ``--local`` projects uploaded to
pubkit: the list has local + cached names with the option on, local ones alone off. One
``pubkit serve`` process (one worker) at a time on 127.0.0.1. Not a test; prints a markdown
table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pubkit.testing import LiveServer, make_wheel
from tests.server.conftest import upload_fields
from tests.upstream_support import static_index

USER, PASSWORD = "bench", "bench-list-password"
TYPES = {"json": "application/vnd.pypi.simple.v1+json", "html": "text/html"}


def start(data: Path, upstream: str, on: bool) -> LiveServer:
    extra = ("--upstream", upstream, "--log-level", "warning",
             *(("--upstream-list-cached",) if on else ()))  # fmt: skip
    server = LiveServer(data, extra_args=extra)
    return server.start(timeout=120)


def loop(server: LiveServer, accept: str, count: int) -> list[float]:
    """Milliseconds of each of ``count`` sequential requests (after a warm-up)."""
    session = requests.Session()
    headers = {"Accept": accept}
    for _ in range(50):
        session.get(server.simple_url, headers=headers, timeout=30).raise_for_status()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = session.get(server.simple_url, headers=headers, timeout=30)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    session.close()
    return times


def after_changes(server: LiveServer, where: Path, count: int, round_: int, on: bool
                  ) -> list[float]:  # fmt: skip
    """Milliseconds of the first GET /simple/ after each of ``count`` uploads (the catalog
    serial moves: the list is rendered again, with the upstream names when on)."""
    times = []
    for number in range(count):
        version = f"{round_}.{int(on)}.{number}"
        wheel = make_wheel(where / "changes", "local-0000", version)
        with wheel.open("rb") as content:
            requests.post(server.url, data=upload_fields(wheel), auth=(USER, PASSWORD),
                          files={"content": (wheel.name, content)},
                          timeout=60).raise_for_status()  # fmt: skip
        started = time.perf_counter()
        requests.get(server.simple_url, headers={"Accept": TYPES["json"]},
                     timeout=30).raise_for_status()  # fmt: skip
        times.append((time.perf_counter() - started) * 1000)
    return times


def p99(times: list[float]) -> float:
    return sorted(times)[int(len(times) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", type=int, default=50)
    parser.add_argument("--cached", type=int, default=500)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pubkit-bench-list-") as tmp, static_index() as up:
        where = Path(tmp)
        for number in range(args.cached):
            up.add(make_wheel(where / "up", f"upstream-{number:04d}", "1.0"))
        data = where / "data"
        server = start(data, up.simple_url, on=True)
        server.add_user(USER, PASSWORD, admin=True)
        try:
            for number in range(args.local):
                wheel = make_wheel(where / "local", f"local-{number:04d}", "1.0")
                with wheel.open("rb") as content:
                    requests.post(server.url, data=upload_fields(wheel), auth=(USER, PASSWORD),
                                  files={"content": (wheel.name, content)},
                                  timeout=60).raise_for_status()  # fmt: skip
            for number in range(args.cached):
                requests.get(f"{server.simple_url}upstream-{number:04d}/", timeout=30,
                             headers={"Accept": TYPES["json"]}).raise_for_status()  # fmt: skip
        finally:
            server.stop()
        rows: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _round in range(args.rounds):
            for on in (False, True):
                server = start(data, up.simple_url, on)
                try:
                    if on:  # the first scan, then the list holds every cached name
                        deadline = time.monotonic() + 30
                        while time.monotonic() < deadline:
                            listed = requests.get(server.simple_url, timeout=30,
                                                  headers={"Accept": TYPES["json"]}).json()
                            if len(listed["projects"]) == args.local + args.cached:
                                break
                            time.sleep(0.2)
                        else:
                            raise SystemExit("the cached pages were not listed within 30 s")
                    for kind, accept in TYPES.items():
                        times = loop(server, accept, args.requests)
                        rows.setdefault(("on" if on else "off", kind), []).append(
                            (statistics.median(times), p99(times)))  # fmt: skip
                    changed = after_changes(server, where, args.changes, _round, on)
                    rows.setdefault(("on" if on else "off", "json, after a change"), []).append(
                        (statistics.median(changed), max(changed)))  # fmt: skip
                finally:
                    server.stop()
    print(f"GET /simple/: {args.local} local projects, {args.cached} cached upstream ones"
          f" (listed only with the option on); {args.requests} sequential requests per round")
    print()
    print("| option | type | median ms per round | p99 ms per round (after a change: max) |")
    print("|---|---|---|---|")
    for (option, kind), values in sorted(rows.items(), key=lambda r: (r[0][1], r[0][0])):
        medians = " / ".join(f"{m:.3f}" for m, _ in values)
        p99s = " / ".join(f"{p:.3f}" for _, p in values)
        print(f"| {option} | {kind} | {medians} | {p99s} |")


if __name__ == "__main__":
    main()
