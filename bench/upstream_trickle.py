"""How long an upstream that trickles (one byte every 0.5 s, each well within the read
timeout) holds one of pubkit's upstream threads: a page whose headers or body trickle, a
file download whose headers or body trickle. The four run at once, each in its own thread,
through the real :class:`~pubkit.server.upstream.client.UpstreamClient`.

    .venv/bin/python bench/upstream_trickle.py [--timeout 10] [--cap 600]

Not a test; prints a markdown table (a call still running after ``--cap`` s is reported
as such).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pubkit.errors import UpstreamError
from pubkit.server.upstream.client import UpstreamClient
from pubkit.testing import make_wheel
from tests.faults.trickle_upstream import BODY, HEADERS, trickle_upstream
from tests.upstream_support import StaticIndex


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--cap", type=float, default=600.0)
    options = parser.parse_args()
    where = Path(tempfile.mkdtemp())
    index = StaticIndex()
    for name in ("page-headers", "page-body", "file-headers", "file-body"):
        index.add(make_wheel(where, name, "1.0"))
    results: dict[str, str] = {}
    with trickle_upstream(index, options.interval) as upstream:
        upstream.trickle = {"/simple/page-headers/": HEADERS, "/simple/page-body/": BODY,
                            "/files/file_headers": HEADERS, "/files/file_body": BODY}  # fmt: skip
        client = UpstreamClient(options.timeout)

        def page(name: str) -> None:
            client.page(upstream.simple_url, name)

        def download(name: str) -> None:
            wheel = next(where.glob(f"{name.replace('-', '_')}-*.whl"))
            client.download(f"http://127.0.0.1:{upstream.port}/files/{wheel.name}",
                            where / "out" / name, 1 << 30, upstream.simple_url)  # fmt: skip

        (where / "out").mkdir()

        def timed(case: str, call: object, name: str) -> None:
            started = time.monotonic()
            try:
                call(name)  # type: ignore[operator]
                outcome = "completed"
            except UpstreamError as error:
                outcome = error.message
            results[case] = f"{time.monotonic() - started:.1f} s | {outcome}"

        cases = (("page, headers trickle", page, "page-headers"),
                 ("page, body trickle", page, "page-body"),
                 ("file, headers trickle", download, "file-headers"),
                 ("file, body trickle", download, "file-body"))  # fmt: skip
        threads = [threading.Thread(target=timed, args=case, daemon=True) for case in cases]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        for thread in threads:
            thread.join(max(0.0, options.cap - (time.monotonic() - started)))
    print(f"upstream timeout {options.timeout:g} s, one byte every {options.interval:g} s\n")
    print("| case | thread held | outcome |\n|---|---|---|")
    for case in ("page, headers trickle", "page, body trickle", "file, headers trickle",
                 "file, body trickle"):  # fmt: skip
        print(f"| {case} | {results.get(case, f'> {options.cap:g} s | still running')} |")


if __name__ == "__main__":
    main()
