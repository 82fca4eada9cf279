"""Release benchmark: `pubkit release` of a generated monorepo into a live pubkit server,
against `uv build --all-packages` plus, by hand, a `uv run` of each package's tests against
its wheel and a `twine upload` of the same files.

    python bench/release.py [--packages 20] [--jobs N] [--runs 5] [--quick]

Not a test: it generates the monorepo in a temp dir, starts two pubkit servers on 127.0.0.1,
measures, prints one markdown table, writes bench/results/release.json and replaces the
"Release" section of bench/RESULTS.md. Builds use this machine's package index configuration
(hatchling and setuptools come from it). See bench/README.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from report import Row, judge

from pubkit.testing import LiveServer

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_JSON = BENCH_DIR / "results" / "release.json"
RESULTS_MD = BENCH_DIR / "RESULTS.md"
SECTION = "## Release"
USER = "bench"
TIMEOUT = 1800.0
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}
BUILD_RATIO_TARGET = 1.5
RERUN_TARGET_S = 3.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- the monorepo ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One generated package: its name, backend, internal dependencies and layer."""

    index: int
    layer: int
    deps: tuple[int, ...]

    @property
    def name(self) -> str:
        return f"rb-pkg-{self.index:02d}"

    @property
    def module(self) -> str:
        return self.name.replace("-", "_")

    @property
    def backend(self) -> str:
        # Mixed backends, as in a real monorepo: every third package uses setuptools.
        return "setuptools" if self.index % 3 == 2 else "hatchling"


def layout(count: int, layers: int = 4) -> list[Spec]:
    """``count`` packages in ``layers`` layers; each above the first needs one or two packages
    of the layer below and, from the third layer on, one of two layers down."""
    layers = max(1, min(layers, count))
    by_layer: list[list[int]] = [[] for _ in range(layers)]
    for i in range(count):
        by_layer[i * layers // count].append(i)
    specs = []
    for level, members in enumerate(by_layer):
        for position, i in enumerate(members):
            deps: set[int] = set()
            if level:
                below = by_layer[level - 1]
                deps.add(below[position % len(below)])
                if position % 2 and len(below) > 1:
                    deps.add(below[(position + 1) % len(below)])
            if level >= 2 and position % 3 == 0:
                deps.add(by_layer[level - 2][position % len(by_layer[level - 2])])
            specs.append(Spec(i, level, tuple(sorted(deps))))
    return specs


def expected_value(spec: Spec, specs: Sequence[Spec]) -> int:
    """What the generated ``value()`` returns: its own index plus its dependencies' values."""
    return spec.index + sum(expected_value(specs[d], specs) for d in spec.deps)


def _build_system(backend: str) -> str:
    if backend == "setuptools":
        return 'requires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"'
    return 'requires = ["hatchling>=1.21"]\nbuild-backend = "hatchling.build"'


def write_package(root: Path, spec: Spec, specs: Sequence[Spec]) -> None:
    pkg = root / "packages" / spec.name
    src = pkg / "src" / spec.module
    src.mkdir(parents=True)
    (pkg / "tests").mkdir()
    deps = [specs[d] for d in spec.deps]
    requirements = "".join(f'\n    "{d.name}>=1.0,<2",' for d in deps)
    extra = ""
    if spec.backend == "setuptools":
        extra = '\n[tool.setuptools.packages.find]\nwhere = ["src"]\n'
    (pkg / "pyproject.toml").write_text(
        f"[build-system]\n{_build_system(spec.backend)}\n\n"
        + textwrap.dedent(f"""\
            [project]
            name = "{spec.name}"
            version = "1.0.0"
            description = "{spec.name}: layer {spec.layer} of the release benchmark monorepo"
            readme = "README.md"
            requires-python = ">=3.10"
            classifiers = ["Programming Language :: Python :: 3", "Private :: Do Not Upload"]
            dependencies = [{requirements}
            ]

            [project.optional-dependencies]
            test = ["pytest>=7"]
            """)
        + extra
    )  # fmt: skip
    uses = ", ".join(d.name for d in deps) or "nothing internal"
    (pkg / "README.md").write_text(
        f"# {spec.name}\n\nA generated package of the release benchmark (layer {spec.layer}).\n"
        f"It builds with {spec.backend} and needs {uses}.\n\n"
        f"```python\nfrom {spec.module} import value\nvalue()\n```\n"
    )
    imports = "".join(f"from {d.module} import value as _{d.module}\n" for d in deps)
    total = " + ".join([str(spec.index), *(f"_{d.module}()" for d in deps)])
    (src / "__init__.py").write_text(
        f'"""{spec.name}: a small module of the generated monorepo."""\n\n{imports}'
        f'\n__all__ = ["value", "describe"]\n\n\n'
        f"def value() -> int:\n    return {total}\n\n\n"
        f'def describe() -> str:\n    return f"{spec.name}={{value()}}"\n'
    )
    expected = expected_value(spec, specs)
    (pkg / "tests" / f"test_{spec.module}.py").write_text(
        f"from {spec.module} import describe, value\n\n\n"
        f"def test_value() -> None:\n    assert value() == {expected}\n\n\n"
        f'def test_describe() -> None:\n    assert describe() == "{spec.name}={expected}"\n'
    )


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, env={**os.environ, **GIT_IDENTITY},
                   check=True, capture_output=True, timeout=120)  # fmt: skip


def generate(root: Path, count: int) -> list[Spec]:
    """A git repository of ``count`` packages that both pubkit and a uv workspace see."""
    specs = layout(count)
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(textwrap.dedent("""\
        # The root is not a package: pubkit and uv each find the packages under packages/.
        [tool.pubkit]
        packages = ["packages/*"]
        version-strategy = "manual"
        test-command = "pytest"
        test-extras = ["test"]

        [tool.uv.workspace]
        members = ["packages/*"]
        """))  # fmt: skip
    (root / ".gitignore").write_text("dist/\nreports/\n__pycache__/\n*.egg-info/\n")
    for spec in specs:
        write_package(root, spec, specs)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "generated monorepo")
    return specs


# -- running things --------------------------------------------------------------------------


def release_env(password: str) -> dict[str, str]:
    """Our environment, package index configuration included, without pubkit's or twine's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUBKIT_", "TWINE_"))}
    env.update(PUBKIT_INDEX_USERNAME=USER, PUBKIT_INDEX_PASSWORD=password,
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")  # fmt: skip
    return env


class Timing(NamedTuple):
    wall: float
    cpu: float  # user + system of the command and every process it waited for


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args: Sequence[str | Path], env: dict[str, str], cwd: Path | None = None) -> Timing:
    """Run a command, raise with its output tail if it fails, return its wall and CPU time.

    The CPU time says what the work cost even when other processes share the machine and
    stretch the wall time."""
    cpu, started = _children_cpu(), time.monotonic()
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT, check=False)  # fmt: skip
    timing = Timing(time.monotonic() - started, _children_cpu() - cpu)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr + proc.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"`{' '.join(map(str, args))}` exited {proc.returncode}:\n{tail}")
    return timing


def dist_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.name.endswith((".whl", ".tar.gz")))


def start_server(data_dir: Path, password: str) -> LiveServer:
    server = LiveServer(data_dir)
    server.add_user(USER, password)
    return server.start()


def step_totals(result: dict[str, Any]) -> dict[str, float]:
    """Seconds per step, summed over packages (they overlap when --jobs > 1)."""
    totals: dict[str, float] = {}
    for package in result.get("packages", []):
        for step in package.get("steps", []):
            totals[step["step"]] = totals.get(step["step"], 0.0) + float(step["seconds"])
    return totals


@dataclass
class Bench:
    args: argparse.Namespace
    work: Path
    password: str = field(default_factory=lambda: secrets.token_hex(12))
    raw: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    servers: list[LiveServer] = field(default_factory=list)

    @property
    def repo(self) -> Path:
        return self.work / "repo"

    @functools.cached_property
    def build_jobs(self) -> bool:
        """Whether this pubkit's `build` takes --jobs (else it builds one package at a time)."""
        proc = subprocess.run([sys.executable, "-m", "pubkit", "build", "--help"],
                              capture_output=True, text=True, timeout=60, check=False,
                              env={**self.env(), "COLUMNS": "200"})  # fmt: skip
        return "--jobs" in proc.stdout

    def note(self, text: str) -> None:
        log(f"NOTE {text}")
        self.notes.append(text)

    def env(self) -> dict[str, str]:
        return release_env(self.password)

    def server(self, name: str) -> LiveServer:
        server = start_server(self.work / name / "data", self.password)
        self.servers.append(server)
        return server

    def stop_servers(self) -> None:
        for server in self.servers:  # only the servers this run started
            server.stop()
        self.servers.clear()

    # -- the measurements

    def pubkit_build(self, out: Path) -> Timing:
        shutil.rmtree(out, ignore_errors=True)
        args: list[str | Path] = [sys.executable, "-m", "pubkit", "build", "--workspace",
                                  self.repo, "--out", out]  # fmt: skip
        if self.build_jobs:
            args += ["--jobs", str(self.args.jobs)]
        timing = timed(args, self.env())
        self.expect_files("pubkit build", out)
        return timing

    def uv_build(self, out: Path) -> Timing:
        shutil.rmtree(out, ignore_errors=True)
        timing = timed([sys.executable, "-m", "uv", "build", "--all-packages", "--out-dir",
                         out, "--no-progress"], self.env(), cwd=self.repo)  # fmt: skip
        self.expect_files("uv build", out)
        return timing

    def expect_files(self, what: str, out: Path) -> None:
        found = len(dist_files(out))
        if found != 2 * self.args.packages:
            self.note(f"{what} made {found} files, not {2 * self.args.packages}")

    def warm_up(self) -> None:
        """One package with each tool first, so neither pays for a cold uv cache in the
        timed runs."""
        first = self.repo / "packages" / layout(self.args.packages)[0].name
        scratch = self.work / "warm"
        timed([sys.executable, "-m", "build", "--installer", "uv", "--outdir", scratch / "pypa",
               first], self.env())  # fmt: skip
        timed([sys.executable, "-m", "uv", "build", "--out-dir", scratch / "uv", "--no-progress",
               first], self.env(), cwd=self.repo)  # fmt: skip

    def builds(self) -> None:
        pubkit_runs, uv_runs = [], []
        for run in range(self.args.runs):  # alternating, so both see the same machine
            pubkit_runs.append(self.pubkit_build(self.work / "dist-pubkit"))
            uv_runs.append(self.uv_build(self.work / "dist-uv"))
            log(f"  build run {run + 1}: pubkit build {pubkit_runs[-1].wall:.1f}s"
                f" (CPU {pubkit_runs[-1].cpu:.1f}s), uv build --all-packages"
                f" {uv_runs[-1].wall:.1f}s (CPU {uv_runs[-1].cpu:.1f}s)")  # fmt: skip
        self.raw["pubkit_build_s"] = [t.wall for t in pubkit_runs]
        self.raw["uv_build_s"] = [t.wall for t in uv_runs]
        self.raw["pubkit_build_cpu_s"] = [t.cpu for t in pubkit_runs]
        self.raw["uv_build_cpu_s"] = [t.cpu for t in uv_runs]

    def full_release(self) -> None:
        server = self.server("server-pubkit")
        result_file = self.work / "release-full.json"
        args = self.release_args(server, result_file)
        self.raw["release_s"] = timed(args, self.env()).wall
        result = json.loads(result_file.read_text())
        released = [p["name"] for p in result["packages"] if p["status"] == "released"]
        if not result["ok"] or len(released) != self.args.packages:
            self.note(f"the full release released {len(released)} of {self.args.packages}")
        self.raw["release_steps_s"] = step_totals(result)
        self.raw["release_reported_s"] = result["seconds"]
        log(
            f"  pubkit release --jobs {self.args.jobs}: {self.raw['release_s']:.1f}s; steps "
            + ", ".join(f"{k} {v:.1f}s" for k, v in self.raw["release_steps_s"].items())
        )
        reruns = []
        for run in range(self.args.reruns):
            rerun_file = self.work / f"release-rerun-{run}.json"
            reruns.append(timed(self.release_args(server, rerun_file), self.env()).wall)
            again = json.loads(rerun_file.read_text())
            acted = [p["name"] for p in again["packages"] if p["status"] != "skipped"]
            if acted:
                self.note(f"no-change re-run {run + 1} acted on {', '.join(acted)}")
            log(f"  no-change re-run {run + 1}: {reruns[-1]:.2f}s")
        self.raw["rerun_s"] = reruns

    def release_args(self, server: LiveServer, result_file: Path) -> list[str | Path]:
        return [sys.executable, "-m", "pubkit", "release", "--workspace", self.repo,
                "--index-url", server.simple_url, "--jobs", str(self.args.jobs),
                "--json", result_file]  # fmt: skip

    def uv_tests(self) -> None:
        """What testing the wheels by hand costs: per package, one after the other, pytest in
        a fresh uv environment holding the wheel `uv build` made (internal dependencies from
        the same dist directory, pytest from the machine's index configuration)."""
        dist = self.work / "dist-uv"
        total_wall = total_cpu = 0.0
        for spec in layout(self.args.packages):
            wheel = next(dist.glob(f"{spec.module}-1.0.0-*.whl"))
            timing = timed(
                [sys.executable, "-m", "uv", "run", "--isolated", "--no-project", "--quiet",
                 "--find-links", dist, "--with", f"{wheel}[test]", "--", "pytest", "-q",
                 "-p", "no:cacheprovider", self.repo / "packages" / spec.name / "tests"],
                self.env(), cwd=self.work,
            )  # fmt: skip
            total_wall += timing.wall
            total_cpu += timing.cpu
        self.raw["uv_tests_s"] = total_wall
        self.raw["uv_tests_cpu_s"] = total_cpu
        log(f"  uv run pytest, {self.args.packages} packages by hand: {total_wall:.1f}s")

    def uv_upload(self) -> None:
        """twine upload of the files the last `uv build` made, to a server of their own."""
        server = self.server("server-uv")
        files = dist_files(self.work / "dist-uv")
        # sdists first, as pubkit uploads them
        files.sort(key=lambda p: (not p.name.endswith(".tar.gz"), p.name))
        self.raw["twine_upload_s"] = timed(
            [sys.executable, "-m", "twine", "upload", "--repository-url", server.url, "-u", USER,
             "-p", self.password, "--non-interactive", "--disable-progress-bar", *files],
            self.env(),
        ).wall  # fmt: skip
        log(f"  twine upload of {len(files)} files: {self.raw['twine_upload_s']:.1f}s")

    # -- the table

    def rows(self) -> list[Row]:
        raw, n = self.raw, self.args.packages
        pubkit_build = _median(raw.get("pubkit_build_s"))
        uv_build = _median(raw.get("uv_build_s"))
        twine = raw.get("twine_upload_s")
        runs = f"median of {self.args.runs}" if self.args.runs > 1 else "one run"
        how = f"pubkit build --jobs {self.args.jobs}" if self.build_jobs else "pubkit build"
        build = Row(f"{how} vs uv build --all-packages: {n} packages, sdist + wheel ({runs})", "s",
                    {"pubkit": pubkit_build, "uv": uv_build})  # fmt: skip
        judge(build, f"<= {BUILD_RATIO_TARGET}x uv", lambda v: v["pubkit"] <= BUILD_RATIO_TARGET
              * v["uv"], ("pubkit", "uv"))  # fmt: skip
        cpu = Row("  CPU time of those builds (user + system, median)", "s",
                  {"pubkit": _median(raw.get("pubkit_build_cpu_s")),
                   "uv": _median(raw.get("uv_build_cpu_s"))})  # fmt: skip
        upload = Row(f"upload {2 * n} files (twine)", "s", {"uv": twine})
        total = Row(
            f"full release --jobs {self.args.jobs} vs uv build + twine upload", "s",
            {"pubkit": raw.get("release_s"),
             "uv": uv_build + twine if uv_build is not None and twine is not None else None},
        )  # fmt: skip
        tests = raw.get("uv_tests_s")
        with_tests = Row(
            f"full release --jobs {self.args.jobs} (tests included) vs uv build + uv run"
            " pytest per package", "s",
            {"pubkit": raw.get("release_s"),
             "uv": uv_build + tests if uv_build is not None and tests is not None else None},
        )  # fmt: skip
        judge(with_tests, f"<= {BUILD_RATIO_TARGET}x uv", lambda v: v["pubkit"]
              <= BUILD_RATIO_TARGET * v["uv"], ("pubkit", "uv"))  # fmt: skip
        by_hand = Row(f"  uv run pytest of {n} wheels by hand, one after the other", "s",
                      {"uv": tests})  # fmt: skip
        steps = [
            Row(f"  release step '{step}' (sum over packages)", "s", {"pubkit": seconds})
            for step, seconds in raw.get("release_steps_s", {}).items()
        ]
        rerun = Row(f"no-change re-run of {n} packages (median of {self.args.reruns})", "s",
                    {"pubkit": _median(raw.get("rerun_s"))})  # fmt: skip
        judge(rerun, f"< {RERUN_TARGET_S:g} s", lambda v: v["pubkit"] < RERUN_TARGET_S)
        return [build, cpu, upload, total, with_tests, by_hand, *steps, rerun]


def _median(values: Sequence[float] | None) -> float | None:
    return statistics.median(values) if values else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def markdown(rows: list[Row], notes: list[str]) -> str:
    header = ["metric", "pubkit", "uv build (+ twine)", "pubkit/uv", "target", "status"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        ratio = row.ratio("uv")
        cells = [f"{row.metric} ({row.unit})", _fmt(row.value("pubkit")), _fmt(row.value("uv")),
                 "n/a" if ratio is None else f"{ratio:.2f}x", row.target, row.status]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    if notes:
        lines += ["", "Notes:", *(f"- {note}" for note in notes)]
    return "\n".join(lines)


# -- results ---------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "when": time.strftime("%Y-%m-%d %H:%M %z"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "build": version("build"),
        "uv": version("uv"),
        "twine": version("twine"),
    }


def results_section(
    args: argparse.Namespace, meta: dict[str, Any], table: str, build_jobs: bool,
    raw: dict[str, Any],
) -> str:  # fmt: skip
    specs = layout(args.packages)
    setuptools = sum(1 for s in specs if s.backend == "setuptools")
    layers = max(s.layer for s in specs) + 1
    build_how = (
        f"`pubkit build --jobs {args.jobs}` builds up to {args.jobs} packages at once;"
        if build_jobs
        else "`pubkit build` builds the packages one after the other;"
    )
    paragraphs = [
        f"`python bench/release.py --packages {args.packages} --jobs {args.jobs} --runs"
        f" {args.runs}` on {meta['when']}: a generated monorepo of {args.packages} packages in"
        f" {layers} layers of internal dependencies ({args.packages - setuptools} hatchling,"
        f" {setuptools} setuptools, each with a README, a module and two pytest tests),"
        f" released into a live pubkit server on 127.0.0.1. Machine: {meta['cpus']} CPUs,"
        f" {meta['machine']}, Python {meta['python']}, build {meta['build']}, uv {meta['uv']},"
        f" twine {meta['twine']}. Both tools' caches were warm (one package built with each"
        f" first); the builds fetch hatchling and setuptools through the machine's package"
        f" index configuration.",
        f"Load average (1 min): {raw['load_at_start']:.1f} at the start,"
        f" {raw.get('load_at_end', float('nan')):.1f} at the end, on {meta['cpus']} CPUs."
        f" Whatever else runs on the machine stretches the wall times; the CPU-time row is"
        f" less sensitive to it.",
        f"{build_how} `uv build --all-packages` uses uv's own scheduling. The full release"
        f" also checks, tests (a fresh venv per package), uploads and tags; the step rows are"
        f" sums over packages, which overlap with --jobs > 1. The by-hand test baseline runs"
        f" `uv run --isolated --no-project --find-links DIST --with WHEEL[test] -- pytest` for"
        f" each package, one after the other, against the wheels of uv's build.",
    ]
    text = "\n\n".join(textwrap.fill(p, width=100, break_on_hyphens=False) for p in paragraphs)
    return f"{SECTION}\n\n{text}\n\n{table}\n"


def replace_section(text: str, section: str, heading: str = SECTION) -> str:
    """``text`` with its ``heading`` section (up to the next "## " heading) replaced, or with
    ``section`` appended when there is none yet."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        return text.rstrip("\n") + "\n\n" + section
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
               len(lines))  # fmt: skip
    tail = "".join(lines[end:])
    return "".join(lines[:start]) + section + ("\n" + tail if tail else "")


def write_results(args: argparse.Namespace, bench: Bench, rows: list[Row], table: str) -> None:
    meta = machine()
    data = {
        "meta": {
            **meta,
            "packages": args.packages,
            "jobs": args.jobs,
            "runs": args.runs,
            "pubkit_build_jobs": bench.build_jobs,
        },
        "rows": [r.as_dict() for r in rows],
        "notes": bench.notes,
        "raw": bench.raw,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(data, indent=2) + "\n")
    log(f"wrote {args.output}")
    if args.write_md:
        section = results_section(args, meta, table, bench.build_jobs, bench.raw)
        RESULTS_MD.write_text(replace_section(RESULTS_MD.read_text(), section))
        log(f"updated the Release section of {RESULTS_MD}")


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--packages", type=int, default=None, help="default 20 (6 with --quick)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="pubkit release --jobs (default: the CPU count)")  # fmt: skip
    parser.add_argument(
        "--runs",
        type=int,
        default=None,
        help="timed build runs of each tool, median kept (5; 1 with --quick)",
    )
    parser.add_argument("--reruns", type=int, default=3, help="no-change re-runs, median kept")
    parser.add_argument("--quick", action="store_true", help="6 packages, one build run each")
    parser.add_argument("--no-write-md", dest="write_md", action="store_false",
                        help="leave bench/RESULTS.md alone")  # fmt: skip
    parser.add_argument("--output", type=Path, default=RESULTS_JSON)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (repo, logs)")
    args = parser.parse_args(argv)
    args.packages = args.packages or (6 if args.quick else 20)
    args.runs = args.runs or (1 if args.quick else 5)
    if args.quick:
        args.write_md = False  # a quick run is not the record
    return args


def _sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(143)


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _sigterm)
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="pubkit-release-bench-"))
    bench = Bench(args, work)
    bench.raw["load_at_start"] = os.getloadavg()[0]
    try:
        generate(bench.repo, args.packages)
        log(f"generated {args.packages} packages in {bench.repo}; warming the build caches ...")
        bench.warm_up()
        log(f"building ({args.runs} run(s) of each tool) ...")
        bench.builds()
        log("releasing ...")
        bench.full_release()
        bench.uv_tests()
        bench.uv_upload()
        bench.raw["load_at_end"] = os.getloadavg()[0]
    finally:
        bench.stop_servers()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    rows = bench.rows()
    table = markdown(rows, bench.notes)
    write_results(args, bench, rows, table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
