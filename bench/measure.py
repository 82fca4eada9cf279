"""The measurements: wrk runs, twine uploads, pip installs and server memory."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

import procs
import requests
from corpus import BENCH_DIR, Dist
from upload import upload_one

LUA = BENCH_DIR / "report.lua"
HTML = "text/html"
JSON_V1 = "application/vnd.pypi.simple.v1+json"


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def wrk(
    url: str,
    accept: str | None,
    duration: float,
    threads: int = 2,
    conns: int = 16,
    headers: Sequence[str] = (),
) -> WrkResult:
    """``wrk -t2 -c16 -dNs`` with report.lua; errors = socket errors + non-2xx/3xx responses.

    ``headers`` are extra ``Name: value`` request headers (one ``-H`` each).
    """
    argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration:g}s", "--timeout", "5s"]
    argv += ["-s", str(LUA)]
    if accept:
        argv += ["-H", f"Accept: {accept}"]
    for line in headers:
        argv += ["-H", line]
    argv.append(url)
    out = subprocess.run(
        argv, capture_output=True, text=True, timeout=duration + 60, check=True
    ).stdout
    line = next(ln for ln in reversed(out.splitlines()) if ln.startswith("{"))
    data = json.loads(line)
    errors = sum(data[k] for k in data if k.startswith("err_"))
    return WrkResult(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        requests=data["requests"],
        errors=errors,
    )


def session() -> requests.Session:
    sess = requests.Session()
    sess.trust_env = False
    return sess


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href" and v]


def page_links(page_url: str, html: str) -> list[str]:
    """Absolute file URLs (fragment dropped) of a simple page."""
    parser = _Links()
    parser.feed(html)
    urls = []
    for href in parser.hrefs:
        parts = urlsplit(urljoin(page_url, href))
        urls.append(urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, "")))
    return urls


def first_wheel_url(page_url: str) -> str:
    resp = session().get(page_url, headers={"Accept": HTML}, timeout=30)
    resp.raise_for_status()
    wheels = [u for u in page_links(page_url, resp.text) if u.endswith(".whl")]
    if not wheels:
        raise RuntimeError(f"no wheel link on {page_url}: {resp.text[:300]!r}")
    return wheels[0]


def visit_pages(urls: Sequence[str], threads: int = 8) -> dict[int, int]:
    """GET every URL once (HTML); returns a histogram of status codes."""
    hist: dict[int, int] = {}

    def get(url: str) -> int:
        return session().get(url, headers={"Accept": HTML}, timeout=60).status_code

    with ThreadPoolExecutor(threads) as pool:
        for status in pool.map(get, urls):
            hist[status] = hist.get(status, 0) + 1
    return hist


def twine_upload(repo_url: str, auth: tuple[str, str], files: Sequence[Path]) -> float:
    """One ``twine upload`` of all files; returns uploads per second."""
    with tempfile.NamedTemporaryFile("w", suffix=".pypirc") as pypirc:
        pypirc.write("[distutils]\nindex-servers =\n")
        pypirc.flush()
        argv = [sys.executable, "-m", "twine", "upload", "--non-interactive"]
        argv += ["--disable-progress-bar", "--config-file", pypirc.name]
        argv += ["--repository-url", repo_url, *[str(f) for f in files]]
        env = {**os.environ, "TWINE_USERNAME": auth[0], "TWINE_PASSWORD": auth[1]}
        start = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=1800, env=env)
        elapsed = time.monotonic() - start
    if proc.returncode:
        raise RuntimeError(f"twine upload to {repo_url} failed:\n{proc.stdout}\n{proc.stderr}")
    return len(files) / elapsed


def _pip_once(args: Sequence[str], package: str) -> float:
    target = Path(tempfile.mkdtemp(prefix="pubkit-bench-pip-"))
    try:
        argv = [sys.executable, "-m", "pip", "install", "--isolated", "--no-cache-dir"]
        argv += ["--disable-pip-version-check", "-q", "--target", str(target), *args, package]
        start = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        elapsed = time.monotonic() - start
        if proc.returncode:
            raise RuntimeError(f"pip install {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
        return elapsed
    finally:
        shutil.rmtree(target, ignore_errors=True)


def pip_install_seconds(args: Sequence[str], package: str, runs: int = 3) -> dict[str, float]:
    times = [_pip_once(args, package) for _ in range(runs)]
    return {"median": statistics.median(times), "best": min(times)}


def upload_rss_growth(
    server: procs.Server, url: str, auth: tuple[str, str], dist: Dist
) -> dict[str, float]:
    """Upload one big file while sampling the server tree's RSS every 50 ms."""
    baseline = procs.tree_rss_mib(server.proc.pid)
    start = time.monotonic()
    with procs.RssSampler(server.proc.pid, 0.05) as sampler:
        status = upload_one(url, auth, dist, retries=1)
    elapsed = time.monotonic() - start
    return {
        "baseline_mib": baseline,
        "peak_mib": sampler.peak,
        "growth_mib": sampler.peak - baseline,
        "seconds": elapsed,
        "status": status,
        "samples": len(sampler.samples),
    }
