"""The upstream cache's two numbers (issue 17): a cached upstream project page against a local
one of the same shape (wrk, requests per second), and what a first fetch adds to the
upstream's own time for the same page.

    .venv/bin/python bench/upstream.py [--duration 5] [--rounds 3] [--fresh 20]

Two ``pubkit serve`` processes on 127.0.0.1 (one worker each): the upstream, and pubkit with
``--upstream`` in front of it. Not a test; prints a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import JSON_V1, wrk

from pubkit.testing import LiveServer, make_wheel
from tests.server.conftest import upload_fields

USER, PASSWORD = "bench", "bench-upstream-password"


def upload(server: LiveServer, wheel: Path) -> None:
    with wheel.open("rb") as data:
        response = requests.post(server.url, data=upload_fields(wheel), auth=(USER, PASSWORD),
                                 files={"content": (wheel.name, data)}, timeout=60)  # fmt: skip
    response.raise_for_status()


def project(server: LiveServer, where: Path, name: str, releases: int) -> None:
    for minor in range(releases):
        upload(server, make_wheel(where, name, f"1.{minor}"))


def first_get_ms(url: str) -> float:
    started = time.perf_counter()
    response = requests.get(url, headers={"Accept": JSON_V1}, timeout=30)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--releases", type=int, default=10)
    parser.add_argument("--fresh", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pubkit-bench-upstream-") as tmp:
        root = Path(tmp)
        upstream = LiveServer(root / "upstream" / "data")
        upstream.add_user(USER, PASSWORD)
        upstream.start()
        proxy = LiveServer(root / "proxy" / "data",
                           extra_args=["--upstream", upstream.simple_url])  # fmt: skip
        proxy.add_user(USER, PASSWORD)
        proxy.start()
        try:
            dists = root / "dists"
            project(proxy, dists, "local-demo", args.releases)
            project(upstream, dists, "remote-demo", args.releases)
            for i in range(args.fresh):
                for side in ("a", "b"):
                    project(upstream, dists, f"fresh-{side}{i}", 1)
            # A cached upstream page against a local one, alternating, median of the rounds.
            local_url = proxy.simple_url + "local-demo/"
            cached_url = proxy.simple_url + "remote-demo/"
            assert "remote_demo-1.0" in requests.get(cached_url, timeout=30).text
            local, cached = [], []
            for _ in range(args.rounds):
                local.append(wrk(local_url, JSON_V1, args.duration).rps)
                cached.append(wrk(cached_url, JSON_V1, args.duration).rps)
            # A first fetch through pubkit (fresh-aN) against the upstream's own first answer
            # for a page of the same shape (fresh-bN): both cold on the upstream.
            through = [first_get_ms(f"{proxy.simple_url}fresh-a{i}/") for i in range(args.fresh)]
            direct = [first_get_ms(f"{upstream.simple_url}fresh-b{i}/") for i in range(args.fresh)]
        finally:
            proxy.stop()
            upstream.stop()
    local_rps, cached_rps = statistics.median(local), statistics.median(cached)
    print("| measure | value |\n| --- | --- |")
    rounds = f"{args.rounds} x {args.duration:g} s"
    print(f"| local page, req/s (median of {rounds}) | {local_rps:.0f} |")
    print(f"| cached upstream page, req/s | {cached_rps:.0f} |")
    print(f"| cached / local | {cached_rps / local_rps:.3f} |")
    print(f"| upstream's own first answer, ms (median of {args.fresh}) |"
          f" {statistics.median(direct):.1f} |")  # fmt: skip
    print(f"| first fetch through pubkit, ms (median) | {statistics.median(through):.1f} |")
    print(f"| added by pubkit, ms (median) |"
          f" {statistics.median(through) - statistics.median(direct):.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
