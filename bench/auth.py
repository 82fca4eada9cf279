"""Authenticated reads: ``GET /simple/<project>/`` on pubkit anonymous (read policy public)
against the same page with credentials (read policy authenticated): HTTP Basic with a
password, HTTP Basic ``__token__`` with an API token and ``Authorization: Bearer``; beside it
pypiserver anonymous and with Basic auth, and devpi-server anonymous as a reference.

    python bench/run.py --suite auth [--projects 50 --releases 5] [--rounds 3] [--quick]

Not a test: it seeds a small corpus once (cached in bench/.state), starts each server's
configurations side by side on 127.0.0.1 (afresh every round), checks that every measured way
answers 200 and that no or wrong credentials are refused, runs wrk alternating anonymous and
authenticated runs, prints one markdown table, writes bench/results/auth.json and replaces the
"Authenticated reads" section of bench/RESULTS.md. See bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import corpus
import measure
import peers
import procs
import pubkit_srv
from corpus import BENCH_DIR, CorpusSpec, Dist
from procs import log
from report import Row, judge

RESULTS_JSON = BENCH_DIR / "results" / "auth.json"
RESULTS_MD = BENCH_DIR / "RESULTS.md"
SECTION = "## Authenticated reads"
SERVERS = ("pubkit", "pypiserver", "devpi")
RATIO_TARGET = 0.90  # authenticated req/s >= 90% of the same server's anonymous req/s
# --against-rev: another revision's anonymous reads within 5% of the reference's
AGAINST_TARGET = 0.95
AGAINST_SECTION = "## Read path: two revisions"
# --metrics-cost: metrics on (the default) within 3% of metrics off (issue 16)
METRICS_TARGET = 0.97
METRICS_SECTION = "## Read path: metrics on and off"
_TOKEN = re.compile(r"\bpubkit_[0-9a-f]{16}_[A-Za-z0-9_-]{43}\b")


def basic(user: str, password: str) -> str:
    """The value of an ``Authorization: Basic`` header."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass(frozen=True)
class Way:
    """One way of reading the page: a table row."""

    server: str
    name: str  # anonymous, password, token, bearer
    label: str
    config: str  # the policy of the Config that serves it
    authorization: str | None = None  # the Authorization header sent, None: anonymous

    @property
    def key(self) -> str:
        return f"{self.server}/{self.name}"

    @property
    def headers(self) -> list[str]:
        return [] if self.authorization is None else [f"Authorization: {self.authorization}"]


@dataclass
class Config:
    """One server process configuration (its read policy), started afresh every round."""

    server: str
    policy: str  # as the log names it: read public, read authenticated, ...
    start: Callable[[], procs.Server]
    path: str  # the project page
    requires_auth: bool = False  # then no Authorization answers 401
    wrong: dict[str, str] = field(default_factory=dict)  # what -> a wrong Authorization
    wrong_status: int = 401  # how wrong credentials are refused

    @property
    def name(self) -> str:
        return f"{self.server} ({self.policy})"


@dataclass
class Group:
    """One server's configurations, run side by side in a round. Its anonymous way (first)
    is measured before, between and after the others, so that every authenticated run is
    compared with the anonymous runs right next to it: other work on the machine comes and
    goes on that time scale, and it would otherwise show as a difference between ways."""

    server: str
    configs: list[Config]
    ways: list[Way]

    def schedule(self, round_no: int) -> list[Way]:
        anonymous, others = self.ways[0], self.ways[1:]
        if round_no % 2 == 0:
            others = others[::-1]
        order = [anonymous]
        for way in others:
            order += [way, anonymous]
        return order


@dataclass
class Run:
    """One recorded wrk run."""

    way: Way
    round_no: int
    wrk: measure.WrkResult
    cpu_us: float | None  # CPU time of the server's process tree per request
    others: float  # share of the machine's CPU time other processes used during the run
    ratio: float | None = None  # req/s over the neighbouring anonymous runs' mean
    cpu_ratio: float | None = None  # the same for CPU per request

    def as_dict(self) -> dict[str, Any]:
        return {
            "way": self.way.key,
            "round": self.round_no,
            **self.wrk.as_dict(),
            "server_cpu_us_per_request": self.cpu_us,
            "other_processes_cpu_share": self.others,
            "vs_anonymous": self.ratio,
            "cpu_vs_anonymous": self.cpu_ratio,
        }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.fmean(known) if known and len(known) == len(values) else None


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


@dataclass
class Bench:
    args: argparse.Namespace
    run_dir: Path
    raw: dict[str, Any] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)  # ways that could not be measured cleanly

    def note(self, text: str) -> None:
        log(f"NOTE {text}")
        if text not in self.notes:
            self.notes.append(text)

    def guarded(self, what: str, fn: Callable[[], None]) -> bool:
        """Run one step; a failure becomes a note instead of ending the run."""
        try:
            fn()
        except Exception as exc:  # one broken server must not hide the others' numbers
            first = str(exc).strip().splitlines()[:12]
            self.note(f"{what} failed: {type(exc).__name__}: {' / '.join(first)}")
            if self.args.verbose:
                traceback.print_exc()
            return False
        return True

    # --- checks -------------------------------------------------------------------------------

    def get(self, url: str, authorization: str | None) -> tuple[int, bytes]:
        headers = {"Accept": measure.HTML}
        if authorization is not None:
            headers["Authorization"] = authorization
        resp = measure.session().get(url, headers=headers, timeout=30, allow_redirects=False)
        return resp.status_code, resp.content

    def verify(self, config: Config, server: procs.Server, ways: Sequence[Way]) -> None:
        """Every way answers 200 with a real project page; on a server that requires
        authentication, no credentials answer 401 and wrong ones ``config.wrong_status``."""
        url = server.base + config.path
        for way in ways:
            status, body = self.get(url, way.authorization)
            if status != 200:
                raise RuntimeError(f"{way.label}: {url} answered {status}, not 200: {body[:200]!r}")
            wheels = [u for u in measure.page_links(url, body.decode()) if u.endswith(".whl")]
            if not wheels:
                raise RuntimeError(f"{way.label}: {url} is no project page: {body[:200]!r}")
            self.raw.setdefault("pages", {})[way.key] = {
                "bytes": len(body),
                "sha256": hashlib.sha256(body).hexdigest(),
            }
        refusals: dict[str, tuple[str | None, int]] = {
            what: (auth, config.wrong_status) for what, auth in config.wrong.items()
        }
        if config.requires_auth:
            refusals = {"no credentials": (None, 401), **refusals}
        for what, (authorization, expected) in refusals.items():
            status, body = self.get(url, authorization)
            if status != expected:
                raise RuntimeError(
                    f"{what}: {url} answered {status}, not {expected}: {body[:200]!r}"
                )
        checked = ", ".join(f"{what} {expected}" for what, (_, expected) in refusals.items())
        log(f"  {config.name}: {len(ways)} way(s) 200" + (f"; {checked}" if checked else ""))

    # --- measuring ----------------------------------------------------------------------------

    def wrk(self, server: procs.Server, config: Config, way: Way, duration: float) -> Run:
        """One wrk run, with the server's CPU time and what the rest of the machine used:
        busy CPU time minus the server's and wrk's (a finished child of this process)."""
        machine, children = procs.machine_busy_seconds(), _children_cpu()
        before = procs.tree_cpu_seconds(server.proc.pid)
        started = time.monotonic()
        res = measure.wrk(
            server.base + config.path,
            measure.HTML,
            duration,
            self.args.threads,
            self.args.connections,
            headers=way.headers,
        )
        elapsed = time.monotonic() - started
        cpu = procs.tree_cpu_seconds(server.proc.pid) - before
        others = procs.machine_busy_seconds() - machine - cpu - (_children_cpu() - children)
        share = max(0.0, others) / (elapsed * (os.cpu_count() or 1))
        return Run(way, 0, res, cpu / res.requests * 1e6 if res.requests else None, share)

    def measure_group(self, group: Group, round_no: int) -> None:
        configs = {c.policy: c for c in group.configs}
        servers: dict[str, procs.Server] = {}
        try:
            for config in group.configs:
                servers[config.policy] = config.start()
            for config in group.configs:
                ways = [w for w in group.ways if w.config == config.policy]
                self.verify(config, servers[config.policy], ways)
            for way in group.ways:  # warm-up: the page caches and each worker's auth cache
                self.wrk(servers[way.config], configs[way.config], way, self.args.warmup)
            runs = []
            for way in group.schedule(round_no):
                run = self.wrk(servers[way.config], configs[way.config], way, self.args.duration)
                run.round_no = round_no
                runs.append(run)
                res = run.wrk
                cpu = "n/a" if run.cpu_us is None else f"{run.cpu_us:.0f}"
                log(
                    f"  round {round_no} {way.key:20} {res.rps:10,.0f} req/s"
                    f"  p99 {res.p99_ms:7.2f} ms  server CPU {cpu} us/req  errors {res.errors}"
                    f"  other processes {run.others:.0%} CPU"
                )
                if res.errors:
                    self.failed.add(way.key)
                    self.note(
                        f"{way.label}: {res.errors} socket errors or non-2xx answers of"
                        f" {res.requests} requests in round {round_no}"
                    )
            for server in servers.values():
                procs.check_alive(server)
        finally:
            for server in servers.values():
                procs.stop(server)
        for i, run in enumerate(runs):
            if run.way.name == "anonymous":
                continue
            beside = (runs[i - 1], runs[i + 1])  # the schedule puts anonymous runs there
            anon_rps = _mean([r.wrk.rps for r in beside])
            anon_cpu = _mean([r.cpu_us for r in beside])
            run.ratio = run.wrk.rps / anon_rps if anon_rps else None
            run.cpu_ratio = run.cpu_us / anon_cpu if run.cpu_us is not None and anon_cpu else None
        self.runs += runs

    def run_rounds(self, groups: Sequence[Group]) -> None:
        """``--rounds`` times every group, the order reversed every other round."""
        for round_no in range(1, self.args.rounds + 1):
            order = list(groups) if round_no % 2 else list(reversed(groups))
            log(f"round {round_no}/{self.args.rounds}: " + ", ".join(g.server for g in order))
            for group in order:
                ok = self.guarded(group.server, partial(self.measure_group, group, round_no))
                if not ok:
                    self.failed.update(way.key for way in group.ways)

    # --- the table ----------------------------------------------------------------------------

    def runs_of(self, way: Way) -> list[Run]:
        return [r for r in self.runs if r.way.key == way.key]

    def row(self, way: Way) -> Row:
        runs = sorted(self.runs_of(way), key=lambda r: r.wrk.rps)
        middle = runs[len(runs) // 2] if runs else None
        anonymous = way.name == "anonymous"
        values: dict[str, float | None] = {
            "rps": _median([r.wrk.rps for r in runs]),
            "p99": middle.wrk.p99_ms if middle else None,  # of the median run
            "cpu": _median([r.cpu_us for r in runs]),
            "ratio": (1.0 if runs else None) if anonymous else _median([r.ratio for r in runs]),
            "cpu_ratio": None if anonymous else _median([r.cpu_ratio for r in runs]),
        }
        row = Row(way.label, "req/s", values)
        if way.name == "against":
            target = f">= {AGAINST_TARGET:.2f}x reference"
            judge(row, target, lambda v: v["ratio"] >= AGAINST_TARGET, ("ratio",))
        elif way.name == "metrics":
            target = f">= {METRICS_TARGET:.2f}x metrics off"
            judge(row, target, lambda v: v["ratio"] >= METRICS_TARGET, ("ratio",))
        elif way.server == "pubkit" and not anonymous:
            judge(row, f">= {RATIO_TARGET:.2f}x anonymous", lambda v: v["ratio"] >= RATIO_TARGET,
                  ("ratio",))  # fmt: skip
        if way.key in self.failed:
            row.status = "FAIL" if runs else "n/a"
        return row

    def markdown(self, groups: Sequence[Group]) -> str:
        header = ["server", "way", "req/s", "p99 ms", "vs anonymous", "server CPU us/req"]
        header += ["CPU vs anonymous", "each round (req/s)", "target", "status"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

        def fmt(value: float | None, spec: str) -> str:
            return "n/a" if value is None else format(value, spec)

        for way in [w for g in groups for w in g.ways]:
            row = self.row(way)
            rounds = sorted({r.round_no for r in self.runs_of(way)})
            each = [
                _median([r.wrk.rps for r in self.runs_of(way) if r.round_no == n]) for n in rounds
            ]
            cells = [
                way.server,
                way.label,
                fmt(row.value("rps"), ",.0f"),
                fmt(row.value("p99"), ".2f"),
                fmt(row.value("ratio"), ".2f") + ("x" if row.value("ratio") is not None else ""),
                fmt(row.value("cpu"), ".0f"),
                fmt(row.value("cpu_ratio"), ".2f")
                + ("x" if row.value("cpu_ratio") is not None else ""),
                " / ".join(fmt(v, ",.0f") for v in each) or "n/a",
                row.target,
                row.status,
            ]
            lines.append("| " + " | ".join(cells) + " |")
        if self.notes:
            lines += ["", "Notes:", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines)


# --- pubkit ---------------------------------------------------------------------------------


def create_token(data_dir: Path, user: str) -> str:
    """``pubkit token create --user USER --read``: the token it prints once."""
    argv = [sys.executable, "-m", "pubkit", "token", "create", "--user", user, "--read"]
    argv += ["--description", "bench/auth.py", "--data-dir", str(data_dir)]
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = _TOKEN.search(proc.stdout)
    if proc.returncode or found is None:
        raise RuntimeError(f"pubkit token create failed ({proc.returncode}):\n{proc.stderr}")
    return found.group(0)


def wrong_token(token: str) -> str:
    """The same token id with another secret: well-formed, but wrong."""
    prefix, _, secret = token.rpartition("_")
    other = secrets.token_urlsafe(32)
    while other == secret:
        other = secrets.token_urlsafe(32)
    return f"{prefix}_{other}"


def against_group(bench: Bench, data: Path, public: Config, label: str) -> Group:
    """``--against-rev``: the anonymous page on the reference pubkit and on another revision,
    side by side, each with its own copy of the data dir; "vs anonymous" is then other/ref."""
    source = bench.run_dir / "pubkit-against-src"
    commit = archive_rev(bench.args.against_rev, source)
    bench.raw["against_commit"] = commit
    where = subprocess.run(
        [sys.executable, "-c", "import pubkit; print(pubkit.__file__)"],
        capture_output=True, text=True, check=True, cwd=source,
        env={**os.environ, "PYTHONPATH": str(source)},
    ).stdout.strip()  # fmt: skip
    if not Path(where).is_relative_to(source):
        raise RuntimeError(f"--against-rev: a server would import pubkit from {where}")
    against_data = bench.run_dir / "pubkit-against" / "data"
    shutil.copytree(data, against_data, symlinks=True)
    logs = bench.run_dir / "logs" / "against"
    against = Config(
        "pubkit",
        f"read public, commit {commit[:12]}",
        lambda: pubkit_srv.start_pubkit(against_data, logs, read="public", source=source),
        public.path,
    )
    ways = [
        Way("pubkit", "anonymous", f"anonymous, {label}", public.policy),
        Way("pubkit", "against", f"anonymous, commit {commit[:12]}", against.policy),
    ]
    return Group("pubkit", [public, against], ways)


def started_with_metrics(start: Callable[[], procs.Server], on: bool) -> procs.Server:
    """A server from ``start`` whose ``/metrics`` answers as ``PUBKIT_METRICS`` says (200
    on, 404 off): the setting must have reached its workers."""
    server = start()
    status = measure.session().get(server.base + "/metrics", timeout=30).status_code
    if status != (200 if on else 404):
        raise RuntimeError(f"metrics {'on' if on else 'off'}: /metrics answered {status}")
    return server


def metrics_group(bench: Bench, data: Path, path: str) -> Group:
    """``--metrics-cost``: the anonymous page with metrics off (the reference) and on, side
    by side, each with its own copy of the data dir; "vs anonymous" is then on/off."""
    configs = []
    for on in (False, True):
        name = "on" if on else "off"
        copy = bench.run_dir / f"pubkit-metrics-{name}" / "data"
        shutil.copytree(data, copy, symlinks=True)
        logs = bench.run_dir / "logs" / f"metrics-{name}"
        start = partial(pubkit_srv.start_pubkit, copy, logs, read="public", metrics=on)
        configs.append(Config("pubkit", f"read public, metrics {name}",
                              partial(started_with_metrics, start, on), path))  # fmt: skip
    ways = [
        Way("pubkit", "anonymous", "anonymous, metrics off (PUBKIT_METRICS=0)",
            configs[0].policy),
        Way("pubkit", "metrics", "anonymous, metrics on (PUBKIT_METRICS=1, the default)",
            configs[1].policy),
    ]  # fmt: skip
    return Group("pubkit", configs, ways)


def pubkit_group(bench: Bench, spec: CorpusSpec, dists: Sequence[Dist]) -> Group:
    state = corpus.state_path("pubkit", spec)
    if bench.args.reseed and state.exists():
        shutil.rmtree(state)
    log(f"pubkit state {state.name}: {len(dists)} files (seeded over HTTP unless cached)")
    pubkit_srv.seed_pubkit(state, dists, secrets.token_hex(12), log)
    copy = bench.run_dir / "pubkit"
    shutil.copytree(state, copy, symlinks=True)
    user, password = pubkit_srv.PUBKIT_USER, (copy / "password").read_text()
    data = copy / "data"
    token = create_token(data, user)
    log(f"  read token {token.split('_')[1]} for {user} created in the run's copy")
    public_data = bench.run_dir / "pubkit-public" / "data"  # each server its own data dir
    shutil.copytree(data, public_data, symlinks=True)
    logs = bench.run_dir / "logs"
    path = f"/simple/{bench.args.project}/"
    public = Config(
        "pubkit",
        "read public",
        lambda: pubkit_srv.start_pubkit(public_data, logs / "public", read="public"),
        path,
    )
    if bench.args.against_rev:
        return against_group(bench, public_data, public, bench.raw["pubkit_label"])
    if bench.args.metrics_cost:
        return metrics_group(bench, public_data, path)
    bad = wrong_token(token)
    wrong = {
        "wrong password": basic(user, password + "x"),
        "wrong token": basic("__token__", bad),
    }
    if bench.args.bearer:
        wrong["wrong Bearer token"] = f"Bearer {bad}"
    authenticated = Config(
        "pubkit",
        "read authenticated",
        lambda: pubkit_srv.start_pubkit(data, logs / "authenticated", read="authenticated"),
        path,
        requires_auth=True,
        wrong=wrong,
    )
    ways = [
        Way("pubkit", "anonymous", "anonymous (PUBKIT_READ=public)", public.policy),
        Way("pubkit", "password", "Basic user + password", authenticated.policy,
            basic(user, password)),
        Way("pubkit", "token", "Basic __token__ + API token", authenticated.policy,
            basic("__token__", token)),
    ]  # fmt: skip
    if bench.args.bearer:
        ways.append(Way("pubkit", "bearer", "Bearer API token", authenticated.policy,
                        f"Bearer {token}"))  # fmt: skip
    return Group("pubkit", [public, authenticated], ways)


# --- peers ----------------------------------------------------------------------------------


def pypiserver_group(bench: Bench, spec: CorpusSpec) -> Group:
    password = secrets.token_hex(12)
    files = corpus.corpus_dir(spec) / "files"
    path = f"/simple/{bench.args.project}/"

    def start(name: str, authenticate: tuple[str, ...]) -> Callable[[], procs.Server]:
        run_dir = bench.run_dir / name
        return lambda: peers.start_pypiserver(
            run_dir, files, "bench", password, authenticate=authenticate
        )

    anonymous = Config("pypiserver", "-a update", start("pypiserver-anonymous", ("update",)), path)
    # pypiserver guards its /simple/ pages with "list" (files with "download").
    basic_auth = Config(
        "pypiserver",
        "-a download,list,update",
        start("pypiserver-basic", ("download", "list", "update")),
        path,
        requires_auth=True,
        wrong={"wrong password": basic("bench", password + "x")},
        wrong_status=403,  # pypiserver: 401 asks for credentials, 403 refuses the ones sent
    )
    ways = [
        Way("pypiserver", "anonymous", "anonymous (-a update)", anonymous.policy),
        Way("pypiserver", "password", "Basic user + password (-a download,list,update)",
            basic_auth.policy, basic("bench", password)),
    ]  # fmt: skip
    return Group("pypiserver", [anonymous, basic_auth], ways)


def devpi_group(bench: Bench, spec: CorpusSpec, dists: Sequence[Dist]) -> Group:
    state = corpus.state_path("devpi", spec)
    if bench.args.reseed and state.exists():
        shutil.rmtree(state)
    if not (state / "done").exists():
        log(f"seeding devpi with {len(dists)} files (cached in {state}) ...")
    method = "http" if len(dists) <= 3000 else "import"
    peers.seed_devpi(state, dists, secrets.token_hex(12), log, method)
    copy = bench.run_dir / "devpi"
    shutil.copytree(state, copy, symlinks=True)
    logs = bench.run_dir / "logs" / "devpi"
    config = Config(
        "devpi",
        "reads are anonymous",
        lambda: peers.start_devpi(copy / "server", logs),
        f"{peers.devpi_index_path()}+simple/{bench.args.project}/",
    )
    return Group("devpi", [config], [Way("devpi", "anonymous", "anonymous (reference)",
                                         config.policy)])  # fmt: skip


# --- which pubkit -----------------------------------------------------------------------------


def archive_rev(rev: str, dest: Path) -> str:
    """``git archive REV pubkit`` unpacked into ``dest``; the full commit id."""
    repo = BENCH_DIR.parent
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dest.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", commit, "pubkit"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return commit


def use_pubkit_rev(rev: str, run_dir: Path) -> str:
    """Run pubkit from ``git archive REV pubkit`` (put first on PYTHONPATH, here and in every
    server): the revision measured stays fixed while the work tree is being edited.

    The process also moves into ``run_dir``: ``python -m pubkit`` puts its working directory
    first on sys.path, which from the repository root would be the work tree's pubkit.
    """
    dest = run_dir / "pubkit-src"
    commit = archive_rev(rev, dest)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(dest), os.environ.get("PYTHONPATH", "")) if p
    )
    sys.path.insert(0, str(dest))
    importlib.invalidate_caches()
    os.chdir(run_dir)
    where = subprocess.run(
        [sys.executable, "-c", "import pubkit; print(pubkit.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(where).is_relative_to(dest):
        raise RuntimeError(f"--pubkit-rev: a subprocess imports pubkit from {where}, not {dest}")
    return commit


def pubkit_source(commit: str | None) -> str:
    """Which pubkit the servers run: a revision, or the work tree (noting local changes)."""
    if commit is not None:
        return f"commit {commit[:12]}, run from `git archive` (`--pubkit-rev`)"
    spec = importlib.util.find_spec("pubkit")
    origin = Path(spec.origin).parent if spec and spec.origin else None
    repo = BENCH_DIR.parent
    if origin is None or origin != repo / "pubkit":
        return f"from {origin}"
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain", "--", "pubkit"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"the work tree at {head}" + (" with uncommitted changes under pubkit/" if dirty else "")


# --- results --------------------------------------------------------------------------------


def peer_versions() -> str:
    code = (
        "from importlib.metadata import version as v; "
        "print(f\"pypiserver {v('pypiserver')}, gunicorn {v('gunicorn')},"
        " devpi-server {v('devpi-server')}\")"
    )
    proc = subprocess.run(
        [str(peers.peer_bin("python")), "-c", code], capture_output=True, text=True
    )
    return proc.stdout.strip() or "peers venv missing"


def command_line(args: argparse.Namespace) -> str:
    parts = ["python bench/run.py --suite auth"]
    parts.append(f"--projects {args.projects} --releases {args.releases}")
    parts.append(f"--rounds {args.rounds}")
    if args.duration != 10.0:
        parts.append(f"--duration {args.duration:g}")
    if (args.threads, args.connections) != (2, 16):
        parts.append(f"--threads {args.threads} --connections {args.connections}")
    if args.servers != set(SERVERS):
        parts.append("--servers " + ",".join(s for s in SERVERS if s in args.servers))
    if args.pubkit_rev:
        parts.append(f"--pubkit-rev {args.pubkit_rev}")
    if args.against_rev:
        parts.append(f"--against-rev {args.against_rev}")
    if args.metrics_cost:
        parts.append("--metrics-cost")
    return " ".join(parts)


def against_section(args: argparse.Namespace, meta: dict[str, Any], table: str) -> str:
    paragraphs = [
        f"`{command_line(args)}` on {meta['when']} (load average {meta['load']}):"
        f" `GET /simple/{args.project}/` (HTML) of a"
        f" {args.projects} x {args.releases} corpus, `wrk -t{args.threads} -c{args.connections}"
        f" -d{args.duration:g}s`, anonymous (`PUBKIT_READ=public`), on two pubkit servers"
        f" started side by side afresh in each of {args.rounds} rounds, each from its own"
        f" `git archive` and its own copy of the same data dir (SQLite catalog, local storage),"
        f" `serve --workers 2 --log-level warning` (which silences the access log), metrics"
        f" as the environment says (on by default). The reference: {meta['pubkit']}. After a"
        f" {args.warmup:g} s warm-up each, the reference is run before and after the other"
        f" revision, whose runs are compared with the mean of the two reference runs beside"
        f" them (vs anonymous: the median of those paired ratios). Machine:"
        f" {meta['cpus']} CPUs shared by wrk, both servers and whatever else ran: other"
        f" processes used {meta['others_median']:.0%} of its CPU time during the median wrk"
        f" run and {meta['others_max']:.0%} during the busiest.",
        f"The target: the other revision at >= {AGAINST_TARGET:.2f}x the reference.",
    ]
    text = "\n\n".join(textwrap.fill(p, width=100, break_on_hyphens=False) for p in paragraphs)
    return f"{AGAINST_SECTION}\n\n{text}\n\n{table}\n"


def metrics_section(args: argparse.Namespace, meta: dict[str, Any], table: str) -> str:
    paragraphs = [
        f"`{command_line(args)}` on {meta['when']} (load average {meta['load']}):"
        f" `GET /simple/{args.project}/` (HTML) of a {args.projects} x {args.releases} corpus,"
        f" `wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s`, anonymous"
        f" (`PUBKIT_READ=public`), on two pubkit servers ({meta['pubkit']}) started side by"
        f" side afresh in each of {args.rounds} rounds, each with its own copy of the same data"
        f" dir, `serve --workers 2 --log-level warning`: one with `PUBKIT_METRICS=0` (the"
        f" reference), one with `PUBKIT_METRICS=1` (the default: request counters and"
        f" latency histograms, storage and catalog timing, a snapshot per worker every"
        f" second). Before measuring, each server's `/metrics` must answer as its setting says"
        f" (404 off, 200 on). After a {args.warmup:g} s warm-up each, the reference is run"
        f" before and after the other, whose runs are compared with the mean of the two"
        f" reference runs beside them (vs anonymous: the median of those paired ratios, here"
        f" metrics on / off). Machine: {meta['cpus']} CPUs shared by wrk, both servers and"
        f" whatever else ran: other processes used {meta['others_median']:.0%} of its CPU"
        f" time during the median wrk run and {meta['others_max']:.0%} during the busiest.",
        f"The target (issue 16): with metrics on, at least {METRICS_TARGET:.2f}x the"
        f" throughput with metrics off.",
    ]
    text = "\n\n".join(textwrap.fill(p, width=100, break_on_hyphens=False) for p in paragraphs)
    return f"{METRICS_SECTION}\n\n{text}\n\n{table}\n"


def results_section(args: argparse.Namespace, meta: dict[str, Any], table: str) -> str:
    if args.against_rev:
        return against_section(args, meta, table)
    if args.metrics_cost:
        return metrics_section(args, meta, table)
    paragraphs = [
        f"`{command_line(args)}` on {meta['when']}: `GET /simple/{args.project}/` (HTML) of a"
        f" {args.projects} x {args.releases} corpus ({args.projects} projects, each with"
        f" {args.releases} wheels and one sdist), `wrk -t{args.threads} -c{args.connections}"
        f" -d{args.duration:g}s` with `report.lua` and an `Authorization` header (`-H`) for the"
        f" authenticated rows, as in the server suite. In each of {args.rounds} rounds, each"
        f" server's configurations are started afresh side by side (pubkit: one server per read"
        f" policy, each with its own copy of the data dir) and checked: every way answers 200"
        f" with the project page; without or with wrong credentials the authenticated"
        f" configurations answer 401 (pypiserver: 403 for wrong ones). After a {args.warmup:g} s"
        f" wrk warm-up per way, the anonymous way is run before, between and after the others"
        f" (their order reversed every other round); each other run is compared with the mean of"
        f" the two anonymous runs beside it. req/s and server CPU are medians over the runs,"
        f" p99 is the median run's, vs anonymous the median of those paired ratios. Server CPU"
        f" is the user + system time of the server's process tree per request: wrk's share and"
        f" other work on the machine do not count in it. A row with any socket error or error"
        f" answer (wrk counts 400 and above; the checks require a 200 without redirects) fails.",
        f"pubkit: {meta['pubkit']}; `serve --workers 2`, access log on (its default), the read"
        f" policy from `PUBKIT_READ` (public for the anonymous row, authenticated for the"
        f" others); the user was added with `pubkit user add --password-stdin` and the token"
        f" made with `pubkit token create --read`. Peers: {meta['peers']}; pypiserver under"
        f" gunicorn with 2 gthread workers x 4 threads, `authenticate` = `update` (anonymous"
        f" reads) or `download,list,update` (pypiserver guards its simple pages with `list`),"
        f" an htpasswd file in the `{{SHA}}` scheme; devpi-server `--offline-mode`, whose reads"
        f" are anonymous. Machine: {meta['cpus']} CPUs shared by wrk and the servers,"
        f" {meta['machine']}, Python {meta['python']}. Other processes on the machine used"
        f" {meta['others_median']:.0%} of its CPU time during the median wrk run and"
        f" {meta['others_max']:.0%} during the busiest (busy time from /proc/stat minus the"
        f" server's and wrk's).",
        f"The target: pubkit's authenticated reads at >= {RATIO_TARGET:.2f}x its anonymous"
        f" reads (vs anonymous).",
    ]
    text = "\n\n".join(textwrap.fill(p, width=100, break_on_hyphens=False) for p in paragraphs)
    return f"{SECTION}\n\n{text}\n\n{table}\n"


def write_results(
    args: argparse.Namespace, bench: Bench, rows: Sequence[Row], table: str, meta: dict[str, Any]
) -> None:
    data = {
        "meta": {**meta, "command": command_line(args)},
        "rows": [r.as_dict() for r in rows],
        "notes": bench.notes,
        "raw": bench.raw,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(data, indent=2, default=str) + "\n")
    log(f"wrote {args.output}")
    if args.write_md:
        from release import replace_section  # imported here: release.py imports pubkit

        section = results_section(args, meta, table)
        heading = (AGAINST_SECTION if args.against_rev
                   else METRICS_SECTION if args.metrics_cost else SECTION)  # fmt: skip
        RESULTS_MD.write_text(replace_section(RESULTS_MD.read_text(), section, heading))
        log(f"updated the {heading[3:]} section of {RESULTS_MD}")


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=50, help="corpus projects (50)")
    parser.add_argument("--releases", type=int, default=5, help="wheels per project (+1 sdist)")
    parser.add_argument("--duration", type=float, default=None, help="wrk seconds (10; quick 3)")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t")
    parser.add_argument("--connections", type=int, default=16, help="wrk -c")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (3; 1 with --quick)")
    parser.add_argument("--warmup", type=float, default=1.0, help="wrk seconds, not recorded")
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help=f"comma-separated subset of {','.join(SERVERS)}",
    )
    parser.add_argument("--no-bearer", dest="bearer", action="store_false",
                        help="leave out the Authorization: Bearer row")  # fmt: skip
    parser.add_argument(
        "--pubkit-rev",
        default=None,
        help="run pubkit from this git revision (git archive) instead of the installed one",
    )
    parser.add_argument(
        "--against-rev",
        default=None,
        help="instead of the credential rows, compare pubkit's anonymous reads with this git"
        " revision's (both from git archive with --pubkit-rev); only pubkit is measured",
    )
    parser.add_argument(
        "--metrics-cost",
        action="store_true",
        help="instead of the credential rows, compare pubkit's anonymous reads with metrics"
        " on (PUBKIT_METRICS=1) and off; only pubkit is measured",
    )
    parser.add_argument("--quick", action="store_true", help="3 s wrk runs, one round")
    parser.add_argument("--reseed", action="store_true", help="rebuild the cached server states")
    parser.add_argument("--no-write-md", dest="write_md", action="store_false",
                        help="leave bench/RESULTS.md alone")  # fmt: skip
    parser.add_argument("--output", type=Path, default=RESULTS_JSON)
    parser.add_argument("--keep", action="store_true", help="keep the per-run temp dir (logs)")
    parser.add_argument("-v", "--verbose", action="store_true", help="tracebacks on failures")
    args = parser.parse_args(argv)
    args.output = args.output.resolve()  # before --pubkit-rev changes the directory
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.servers = {s.strip() for s in args.servers.split(",") if s.strip()}
    unknown = args.servers - set(SERVERS)
    if unknown:
        parser.error(f"--servers: unknown {', '.join(sorted(unknown))}")
    if args.against_rev and args.metrics_cost:
        parser.error("--against-rev and --metrics-cost are separate runs")
    if args.against_rev or args.metrics_cost:
        args.servers = {"pubkit"}
    if args.quick:
        args.write_md = False  # a quick run is not the record
    args.project = corpus.project_name(args.projects // 2)
    return args


def _sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(143)


def run(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        log(f"missing wrk: install with `{peers.APT_HINT}`")
        return 2
    run_dir = Path(tempfile.mkdtemp(prefix="pubkit-auth-bench-"))
    cwd = Path.cwd()
    bench = Bench(args, run_dir)
    spec = CorpusSpec(args.projects, args.releases)
    meta: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M %z"),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "projects": spec.projects,
        "releases": spec.releases,
        "files": spec.total_files,
        "project": args.project,
        "wrk": f"-t{args.threads} -c{args.connections} -d{args.duration:g}s",
        "rounds": args.rounds,
        "pubkit_workers": 2,
        "load": " / ".join(f"{v:.1f}" for v in os.getloadavg()),
    }
    try:
        commit = use_pubkit_rev(args.pubkit_rev, run_dir) if args.pubkit_rev else None
        meta["pubkit"] = pubkit_source(commit)
        bench.raw["pubkit_label"] = f"commit {commit[:12]}" if commit else "the work tree"
        log(f"pubkit: {meta['pubkit']}")
        if args.servers & {"pypiserver", "devpi"}:
            peers.ensure_peers_venv(log)
        meta["peers"] = (
            peer_versions() if args.servers & {"pypiserver", "devpi"} else "not measured"
        )
        dists = corpus.build_corpus(spec)
        log(f"corpus {spec.key}: {len(dists)} files; page /simple/{args.project}/")
        groups: list[Group] = []
        if "pubkit" in args.servers:
            reason = pubkit_srv.pubkit_available()
            if reason is None:
                groups.append(pubkit_group(bench, spec, dists))
            else:
                bench.note(f"pubkit is not benchmarked: {reason}")
        if "pypiserver" in args.servers:
            groups.append(pypiserver_group(bench, spec))
        if "devpi" in args.servers:
            groups.append(devpi_group(bench, spec, dists))
        log(f"wrk {meta['wrk']}, {args.rounds} round(s) ...")
        bench.run_rounds(groups)
        shares = [run.others for run in bench.runs]
        meta["others_median"] = statistics.median(shares) if shares else 0.0
        meta["others_max"] = max(shares, default=0.0)
        meta["load"] += " at the start, " + " / ".join(f"{v:.1f}" for v in os.getloadavg())
        meta["load"] += " at the end (1, 5, 15 min)"
    finally:
        procs.stop_all()
        os.chdir(cwd)
        if args.keep:
            log(f"kept {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    pages = bench.raw.get("pages", {})
    anon_page = pages.get("pubkit/anonymous", {}).get("sha256")
    for key, page in pages.items():
        if key.startswith("pubkit/") and anon_page and page["sha256"] != anon_page:
            bench.note(f"{key}: the page differs from the anonymous one ({page['bytes']} bytes)")
    rows = [bench.row(way) for group in groups for way in group.ways]
    table = bench.markdown(groups)
    bench.raw["runs"] = [run.as_dict() for run in bench.runs]
    write_results(args, bench, rows, table, meta)
    print(table)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        return run(parse_args(argv))
    finally:
        procs.stop_all()


if __name__ == "__main__":
    sys.exit(main())
