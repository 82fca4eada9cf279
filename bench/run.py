"""On-demand benchmark of pubkit against pypiserver, devpi-server and nginx (static).

    python bench/run.py [--projects 2000 --releases 10] [--quick] [--scale]
    python bench/run.py --suite release [--packages 20 --jobs N]   (see bench/release.py)
    python bench/run.py --suite auth [--projects 50 --releases 5]  (see bench/auth.py)

Not a test: it installs its peers into bench/.venv-peers, generates a corpus, starts every
server on 127.0.0.1, measures, prints one markdown table and writes bench/results/latest.json.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import secrets
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import corpus
import measure
import peers
import procs
import pubkit_srv
import requests
from corpus import BENCH_DIR, CorpusSpec, Dist
from procs import log
from report import Row, judge, markdown
from upload import upload_all

RESULTS = BENCH_DIR / "results" / "latest.json"
SUITES = ("servers", "release", "auth")


@dataclass
class Target:
    """A server under test and where its pages live."""

    name: str
    server: procs.Server
    index_path: str  # the /simple/ index
    project_prefix: str  # + "<project>/" gives the project page
    upload_url: str | None = None
    auth: tuple[str, str] | None = None
    has_json: bool = True

    def url(self, path: str) -> str:
        return self.server.base + path

    def project_url(self, project: str) -> str:
        return self.url(f"{self.project_prefix}{project}/")


@dataclass
class Bench:
    args: argparse.Namespace
    spec: CorpusSpec
    run_dir: Path
    raw: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)

    # --- helpers ----------------------------------------------------------------------------

    def put(self, server: str, key: str, value: Any) -> None:
        self.raw.setdefault(server, {})[key] = value

    def get(self, server: str, key: str) -> Any:
        return self.raw.get(server, {}).get(key)

    def note(self, metric: str, text: str) -> None:
        log(f"NOTE {metric}: {text}")
        self.notes.setdefault(metric, []).append(text)

    def guarded(self, metric: str, server: str, fn: Callable[[], None]) -> None:
        """Run one measurement; a failure becomes a note instead of ending the run."""
        try:
            fn()
        except Exception as exc:  # one broken server must not hide the others' numbers
            first = str(exc).strip().splitlines()[:12]
            self.note(metric, f"{server} failed: {type(exc).__name__}: {' / '.join(first)}")
            if self.args.verbose:
                traceback.print_exc()

    def copy_state(self, state: Path, name: str) -> Path:
        target = self.run_dir / name
        shutil.copytree(state, target, symlinks=True)
        return target

    # --- preparation ------------------------------------------------------------------------

    def state_path(self, kind: str, spec: CorpusSpec) -> Path:
        return corpus.state_path(kind, spec)

    def build_corpora(self) -> list[Dist]:
        start = time.monotonic()
        dists = corpus.build_corpus(self.spec)
        self.pip_set = corpus.build_pip_set()
        self.twine_set = corpus.build_twine_set(self.args.twine_files)
        self.big = corpus.build_big_wheel()
        log(f"corpus {self.spec.key}: {len(dists)} files ready in {time.monotonic() - start:.1f}s")
        return dists

    def seed(self, dists: list[Dist], pubkit_ok: bool) -> None:
        for kind in ("pubkit", "devpi"):
            state = self.state_path(kind, self.spec)
            if self.args.reseed and state.exists():
                shutil.rmtree(state)
        if pubkit_ok:
            self.seed_pubkit(self.spec, dists)
        if "devpi" in self.args.servers:
            state = self.state_path("devpi", self.spec)
            if not (state / "done").exists():
                log(f"seeding devpi with {len(dists)} files (cached in {state}) ...")
            method = self.args.devpi_seed
            if method == "auto":
                method = "http" if len(dists) <= 3000 else "import"
            peers.seed_devpi(state, dists, secrets.token_hex(12), log, method)

    def seed_pubkit(self, spec: CorpusSpec, dists: list[Dist]) -> Path:
        state = self.state_path("pubkit", spec)
        log(f"pubkit state {state.name}: {len(dists)} files (seeded over HTTP unless cached)")
        pubkit_srv.seed_pubkit(state, dists, secrets.token_hex(12), log)
        return state

    # --- servers ----------------------------------------------------------------------------

    def start_pubkit(self) -> None:
        state = self.copy_state(self.state_path("pubkit", self.spec), "pubkit")
        password = (state / "password").read_text()
        server = pubkit_srv.start_pubkit(state / "data", self.run_dir / "logs")
        self.targets["pubkit"] = Target(
            "pubkit", server, "/simple/", "/simple/", server.base + "/", ("bench", password)
        )

    def start_pypiserver(self) -> None:
        password = secrets.token_hex(12)
        files = corpus.corpus_dir(self.spec) / "files"
        server = peers.start_pypiserver(self.run_dir, files, "bench", password)
        self.targets["pypiserver"] = Target(
            "pypiserver",
            server,
            "/simple/",
            "/simple/",
            server.base + "/",
            ("bench", password),
            has_json=False,
        )

    def start_devpi(self) -> None:
        state = self.copy_state(self.state_path("devpi", self.spec), "devpi")
        password = (state / "password").read_text()
        server = peers.start_devpi(state / "server", self.run_dir / "logs")
        index = peers.devpi_index_path()
        self.targets["devpi"] = Target(
            "devpi",
            server,
            index + "+simple/",
            index + "+simple/",
            server.base + index,
            (peers.DEVPI_USER, password),
        )

    def start_nginx(self, project: str) -> None:
        """nginx serves a copy of pubkit's pages (or pypiserver's if pubkit is missing)."""
        source = self.targets.get("pubkit") or self.targets.get("pypiserver")
        if source is None:
            return
        if source.name != "pubkit":
            self.note("nginx", f"static pages copied from {source.name} (pubkit not running)")
        sess = measure.session()
        index = sess.get(source.url(source.index_path), headers={"Accept": measure.HTML})
        page_url = source.project_url(project)
        page = sess.get(page_url, headers={"Accept": measure.HTML})
        index.raise_for_status()
        page.raise_for_status()
        wheel = sess.get(measure.first_wheel_url(page_url))
        wheel.raise_for_status()
        pages = {
            f"/simple/{project}/": page.content,
            "/simple/": index.content,
            "/files/bench.whl": wheel.content,
        }
        server = peers.start_nginx(self.run_dir, pages)
        self.targets["nginx"] = Target("nginx", server, "/simple/", "/simple/", has_json=False)
        self.nginx_file = server.base + "/files/bench.whl"

    def start_servers(self, pubkit_ok: bool, project: str) -> None:
        wanted = self.args.servers
        if pubkit_ok and "pubkit" in wanted:
            self.guarded("start", "pubkit", self.start_pubkit)
        if "pypiserver" in wanted:
            self.guarded("start", "pypiserver", self.start_pypiserver)
        if "devpi" in wanted:
            self.guarded("start", "devpi", self.start_devpi)
        if "nginx" in wanted:
            self.guarded("start", "nginx", lambda: self.start_nginx(project))
        log("running: " + ", ".join(f"{t.name} on {t.server.base}" for t in self.targets.values()))

    # --- HTTP throughput ----------------------------------------------------------------------

    def run_wrk(self, server: str, key: str, url: str, accept: str | None) -> None:
        res = measure.wrk(url, accept, self.args.duration, self.args.threads, self.args.connections)
        self.put(server, key, res.as_dict())
        log(f"  {server:10} {key:13} {res.rps:10,.0f} req/s  p99 {res.p99_ms:7.2f} ms  {url}")
        if res.errors:
            self.note(key, f"{server}: {res.errors} errors / non-2xx of {res.requests} requests")

    def check_json(self, url: str) -> None:
        resp = measure.session().get(url, headers={"Accept": measure.JSON_V1}, timeout=30)
        resp.raise_for_status()
        ctype = resp.headers.get("content-type", "")
        if "json" not in ctype:
            raise RuntimeError(f"asked for PEP 691 JSON, got {ctype!r}")
        json.loads(resp.content)

    def http_target(self, target: Target, project: str) -> None:
        page = target.project_url(project)
        file_url = self.nginx_file if target.name == "nginx" else measure.first_wheel_url(page)
        self.put(target.name, "file_url", file_url)
        runs: list[tuple[str, str, str | None]] = [
            ("index", target.url(target.index_path), measure.HTML),
            ("project_html", page, measure.HTML),
        ]
        if target.has_json:
            try:
                self.check_json(page)
                runs.append(("project_json", page, measure.JSON_V1))
            except (requests.RequestException, ValueError, RuntimeError) as exc:
                self.note("project_json", f"{target.name}: no PEP 691 JSON: {exc}")
        runs.append(("file", file_url, None))
        for key, url, accept in runs:
            self.guarded(key, target.name, partial(self.run_wrk, target.name, key, url, accept))

    def measure_http(self, project: str) -> None:
        log(f"wrk -t{self.args.threads} -c{self.args.connections} -d{self.args.duration:g}s ...")
        for target in self.targets.values():
            self.guarded("http", target.name, partial(self.http_target, target, project))

    # --- memory, pip, twine ------------------------------------------------------------------

    def measure_rss_after_corpus(self) -> None:
        projects = [corpus.project_name(i) for i in range(self.spec.projects)]
        for target in self.peer_targets():
            start = time.monotonic()
            hist = measure.visit_pages([target.project_url(p) for p in projects])
            rss = procs.tree_rss_mib(target.server.proc.pid)
            self.put(target.name, "rss_after_corpus_mib", rss)
            self.put(target.name, "page_pass_status", hist)
            secs = time.monotonic() - start
            log(f"  {target.name:10} {len(projects)} pages in {secs:.1f}s; RSS {rss:.1f} MiB")
            if set(hist) != {200}:
                self.note("rss_after_corpus", f"{target.name}: page statuses {hist}")

    def peer_targets(self) -> list[Target]:
        return [t for t in self.targets.values() if t.upload_url]

    def measure_pip(self) -> None:
        flinks = corpus.BENCH_DIR / ".corpus-extra" / "pip" / "files"
        base = measure.pip_install_seconds(
            ["--no-index", "--find-links", str(flinks)], corpus.PIP_APP, self.args.pip_runs
        )
        self.put("find-links", "pip_install_s", base)
        log(f"  find-links  pip install {base['median']:.2f}s (best {base['best']:.2f}s)")
        for target in self.peer_targets():
            self.guarded("pip", target.name, partial(self.pip_target, target))

    def pip_target(self, target: Target) -> None:
        assert target.upload_url and target.auth
        upload_all(target.upload_url, target.auth, self.pip_set, threads=1)
        index = target.url(target.index_path)
        secs = measure.pip_install_seconds(
            ["--index-url", index], corpus.PIP_APP, self.args.pip_runs
        )
        self.put(target.name, "pip_install_s", secs)
        log(f"  {target.name:10} pip install {secs['median']:.2f}s (best {secs['best']:.2f}s)")

    def measure_twine(self) -> None:
        files = [d.path for d in self.twine_set]
        for target in self.peer_targets():

            def run(t: Target = target) -> None:
                assert t.upload_url and t.auth
                rate = measure.twine_upload(t.upload_url, t.auth, files)
                self.put(t.name, "twine_uploads_per_s", rate)
                log(f"  {t.name:10} twine {len(files)} files: {rate:.1f} uploads/s")

            self.guarded("twine", target.name, run)

    def measure_big_upload(self) -> None:
        for target in self.peer_targets():

            def run(t: Target = target) -> None:
                assert t.upload_url and t.auth
                res = measure.upload_rss_growth(t.server, t.upload_url, t.auth, self.big)
                self.put(t.name, "big_upload", res)
                log(
                    f"  {t.name:10} 200 MiB upload: RSS {res['baseline_mib']:.1f} -> "
                    f"{res['peak_mib']:.1f} MiB in {res['seconds']:.1f}s"
                )

            self.guarded("big_upload", target.name, run)

    # --- scale (pubkit only) ------------------------------------------------------------------

    def measure_scale(self) -> None:
        self.guarded("scale", "pubkit", self.scale_runs)

    def scale_server(self, projects: int) -> tuple[procs.Server, str]:
        """Seed (cached) and start pubkit with ``projects`` one-wheel projects."""
        spec = CorpusSpec(projects, 1, sdist=False)
        dists = corpus.build_corpus(spec)
        if self.args.reseed and self.state_path("pubkit", spec).exists():
            shutil.rmtree(self.state_path("pubkit", spec))
        state = self.copy_state(self.seed_pubkit(spec, dists), f"pubkit-{spec.key}")
        server = pubkit_srv.start_pubkit(state / "data", self.run_dir / "logs" / spec.key)
        return server, f"{server.base}/simple/{corpus.project_name(projects // 2)}/"

    def scale_runs(self) -> None:
        """Both sizes run side by side; wrk alternates between them and keeps the median.

        Single runs on a 2-core machine vary by more than the 10% the target allows.
        """
        sizes = (self.args.scale_small, self.args.scale_large)
        urls = {size: self.scale_server(size)[1] for size in sizes}
        results: dict[int, list[measure.WrkResult]] = {size: [] for size in sizes}
        for size in sizes:  # warm-up, not recorded
            measure.wrk(urls[size], measure.HTML, 1, self.args.threads, self.args.connections)
        for _ in range(self.args.scale_rounds):
            for size in sizes:
                res = measure.wrk(
                    urls[size],
                    measure.HTML,
                    self.args.duration,
                    self.args.threads,
                    self.args.connections,
                )
                results[size].append(res)
                log(f"  pubkit @{size} projects: {res.rps:,.0f} req/s p99 {res.p99_ms:.2f} ms")
        for size, runs in results.items():
            median = sorted(runs, key=lambda r: r.rps)[len(runs) // 2]
            self.put("pubkit", f"scale_{size}", median.as_dict())
            self.put("pubkit", f"scale_{size}_runs", [r.as_dict() for r in runs])
            errors = sum(r.errors for r in runs)
            if errors:
                self.note("scale", f"{errors} errors at {size} projects")

    # --- the table ----------------------------------------------------------------------------

    def wrk_rows(self) -> list[Row]:
        labels = {
            "index": "GET /simple/",
            "project_html": "GET /simple/<project>/ HTML",
            "project_json": "GET /simple/<project>/ JSON",
            "file": "GET one wheel",
        }
        rows = []
        for key, label in labels.items():
            rps = Row(f"{label}", "req/s")
            p99 = Row(f"{label} p99", "ms")
            for server in ("pubkit", "pypiserver", "devpi", "nginx"):
                data = self.get(server, key)
                rps.values[server] = data["rps"] if data else None
                p99.values[server] = data["p99_ms"] if data else None
            rows += [rps, p99]
        html_rps, html_p99, json_rps, json_p99 = rows[2], rows[3], rows[4], rows[5]
        judge(
            html_rps,
            ">=25x devpi and >=10% of nginx",
            lambda v: v["pubkit"] >= 25 * v["devpi"] and v["pubkit"] >= 0.10 * v["nginx"],
            ("pubkit", "devpi", "nginx"),
        )
        judge(
            json_rps, ">=25x devpi", lambda v: v["pubkit"] >= 25 * v["devpi"], ("pubkit", "devpi")
        )
        for row in (html_p99, json_p99):
            judge(row, "< 5 ms", lambda v: v["pubkit"] < 5)
        return rows

    def other_rows(self) -> list[Row]:
        servers = ("pubkit", "pypiserver", "devpi")

        def row(metric: str, unit: str, pick: Callable[[str], float | None]) -> Row:
            return Row(metric, unit, {s: pick(s) for s in servers})

        def sub(key: str, inner: str) -> Callable[[str], float | None]:
            return lambda s: (self.get(s, key) or {}).get(inner)

        rss = row(
            "RSS after serving every project page",
            "MiB",
            lambda s: self.get(s, "rss_after_corpus_mib"),
        )
        judge(rss, "< 150 MiB", lambda v: v["pubkit"] < 150)
        big = row("RSS growth during one 200 MiB upload", "MiB", sub("big_upload", "growth_mib"))
        judge(big, "< 50 MiB", lambda v: v["pubkit"] < 50)
        twine = row(
            f"twine upload of {len(self.twine_set)} files",
            "uploads/s",
            lambda s: self.get(s, "twine_uploads_per_s"),
        )
        judge(
            twine,
            ">= pypiserver",
            lambda v: v["pubkit"] >= v["pypiserver"],
            ("pubkit", "pypiserver"),
        )
        pip = row("pip install app + 5 deps (median of 3)", "s", sub("pip_install_s", "median"))
        base = (self.get("find-links", "pip_install_s") or {}).get("median")
        judge(
            pip,
            f"<= 1.2x find-links ({base:.2f} s)" if base else "<= 1.2x find-links",
            lambda v: v["pubkit"] <= 1.2 * v["find-links"],
            ("pubkit", "find-links"),
            {"find-links": base},
        )
        return [rss, big, twine, pip]

    def scale_rows(self) -> list[Row]:
        small, large = self.args.scale_small, self.args.scale_large
        rows = []
        for count in (small, large):
            data = self.get("pubkit", f"scale_{count}")
            rows.append(
                Row(
                    f"GET /simple/<project>/ with {count:,} projects (median)",
                    "req/s",
                    {"pubkit": data["rps"] if data else None},
                )
            )
        judge(
            rows[1],
            f"within 10% of {small} projects",
            lambda v: v["pubkit"] >= 0.9 * v["small"],
            ("pubkit", "small"),
            {"small": rows[0].value("pubkit")},
        )
        return rows

    def rows(self) -> list[Row]:
        rows = self.wrk_rows() + self.other_rows()
        if self.args.scale:
            rows += self.scale_rows()
        return rows

    def note_lines(self) -> list[str]:
        return [f"{metric}: {text}" for metric, texts in self.notes.items() for text in texts]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=None, help="default 2000 (200 --quick)")
    parser.add_argument("--releases", type=int, default=10, help="wheels per project (+1 sdist)")
    parser.add_argument("--quick", action="store_true", help="200x10 corpus, 3 s wrk runs")
    parser.add_argument("--duration", type=float, default=None, help="wrk seconds (10; quick 3)")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t")
    parser.add_argument("--connections", type=int, default=16, help="wrk -c")
    parser.add_argument("--scale", action="store_true", help="pubkit at 200 vs 20,000 projects")
    parser.add_argument("--scale-small", type=int, default=200)
    parser.add_argument("--scale-large", type=int, default=20000)
    parser.add_argument("--scale-rounds", type=int, default=3, help="alternating wrk runs")
    parser.add_argument("--twine-files", type=int, default=200)
    parser.add_argument("--pip-runs", type=int, default=3)
    parser.add_argument(
        "--servers",
        default="pubkit,pypiserver,devpi,nginx",
        help="comma-separated subset of pubkit,pypiserver,devpi,nginx",
    )
    parser.add_argument(
        "--devpi-seed",
        choices=("auto", "http", "import"),
        default="auto",
        help="legacy uploads or devpi-import of a generated export (auto: http <= 3000 files)",
    )
    parser.add_argument("--reseed", action="store_true", help="rebuild the cached server states")
    parser.add_argument("--seed-only", action="store_true", help="build corpus and states, stop")
    parser.add_argument("--keep", action="store_true", help="keep the per-run temp dir (logs)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("-v", "--verbose", action="store_true", help="tracebacks on failures")
    parser.add_argument(
        "--suite",
        choices=SUITES,
        default="servers",
        help="servers: this benchmark; release: bench/release.py; auth: bench/auth.py"
        " (their options follow)",
    )
    args = parser.parse_args(argv)
    args.projects = args.projects or (200 if args.quick else 2000)
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.servers = {s.strip() for s in args.servers.split(",") if s.strip()}
    return args


def _sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(143)


def run(args: argparse.Namespace) -> int:
    missing = peers.missing_tools()
    if missing:
        log(f"missing {', '.join(missing)}: install with `{peers.APT_HINT}`")
        return 2
    peers.ensure_peers_venv(log)
    reason = pubkit_srv.pubkit_available() if "pubkit" in args.servers else "not selected"
    if reason:
        log(f"pubkit is not benchmarked: {reason}")
    pubkit_ok = reason is None
    spec = CorpusSpec(args.projects, args.releases)
    run_dir = Path(tempfile.mkdtemp(prefix="pubkit-bench-"))
    bench = Bench(args, spec, run_dir)
    project = corpus.project_name(spec.projects // 2)
    started = time.monotonic()
    try:
        dists = bench.build_corpora()
        bench.seed(dists, pubkit_ok)
        if args.seed_only:
            return 0
        bench.start_servers(pubkit_ok, project)
        bench.measure_http(project)
        log("memory after requesting every project page ...")
        bench.measure_rss_after_corpus()
        log("pip install ...")
        bench.measure_pip()
        log("twine upload ...")
        bench.measure_twine()
        log("200 MiB upload ...")
        bench.measure_big_upload()
        procs.stop_all()
        if args.scale and pubkit_ok:
            log(f"scale: pubkit at {args.scale_small} vs {args.scale_large} projects ...")
            bench.measure_scale()
    finally:
        procs.stop_all()
        if args.keep:
            log(f"kept {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    rows = bench.rows()
    write_results(args, spec, bench, rows, time.monotonic() - started, reason)
    print(markdown(rows, bench.note_lines()))
    return 0


def write_results(
    args: argparse.Namespace,
    spec: CorpusSpec,
    bench: Bench,
    rows: list[Row],
    seconds: float,
    pubkit_missing: str | None,
) -> None:
    meta = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "projects": spec.projects,
        "releases": spec.releases,
        "files": spec.total_files,
        "wrk": f"-t{args.threads} -c{args.connections} -d{args.duration:g}s",
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {platform.node()}",
        "seconds": round(seconds, 1),
        "pubkit_missing": pubkit_missing,
    }
    data = {
        "meta": meta,
        "rows": [r.as_dict() for r in rows],
        "notes": bench.note_lines(),
        "raw": bench.raw,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(data, indent=2, default=str) + "\n")
    log(f"wrote {args.output}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    chooser = argparse.ArgumentParser(add_help=False)
    chooser.add_argument("--suite", choices=SUITES, default="servers")
    chosen, rest = chooser.parse_known_args(argv)
    if chosen.suite == "release":  # the release benchmark has options of its own
        import release

        return release.main(rest)
    if chosen.suite == "auth":  # so has the authenticated-reads benchmark
        import auth

        return auth.main(rest)
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        return run(parse_args(rest))
    finally:
        procs.stop_all()


if __name__ == "__main__":
    sys.exit(main())
