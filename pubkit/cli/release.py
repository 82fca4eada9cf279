"""The release commands: ``pubkit plan``, ``build``, ``check``, ``test`` and ``publish``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import typer

from pubkit.errors import PubkitError, UsageError
from pubkit.releasing.adapters.credentials import credentials_for_index
from pubkit.releasing.adapters.index_client import IndexClient, IndexReader
from pubkit.releasing.core.plan import PlanOptions, ReleasePlan
from pubkit.releasing.core.versioning import BUMP_PARTS, BumpPart
from pubkit.releasing.core.workspace import Package, Workspace
from pubkit.releasing.planning import plan_release
from pubkit.releasing.workspace_files import load_workspace

WorkspaceOption: Any = typer.Option(
    Path(), "--workspace", "-C", help="The monorepo's root (where the pubkit config lives)."
)
IndexUrlOption: Any = typer.Option(
    None, "--index-url", help="Simple index URL. (env: PUBKIT_INDEX_URL; default: index-url)"
)
UploadUrlOption: Any = typer.Option(
    None, "--upload-url", help="Legacy upload URL. (env: PUBKIT_UPLOAD_URL; default: derived)"
)
SelectedPackages: Any = typer.Argument(
    None, help="Only these packages (and the packages they need)."
)
EachPackage: Any = typer.Argument(None, help="Only these packages (default: all).")
BumpOption: Any = typer.Option(
    None, "--bump", help=f"Bump changed packages: {'|'.join(BUMP_PARTS)}."
)
FinalOption: Any = typer.Option(
    False, "--final", help="End pre-release series: 1.2.3rc1 bumps to 1.2.3, not 1.2.3rc2."
)
DevOption: Any = typer.Option(
    None, "--dev", help="Dev build N: X.Y.Z.devN for changed packages (N: the CI build number)."
)
BuiltDistOption: Any = typer.Option(Path("dist"), "--dist", help="Where `pubkit build` put files.")
NoIsolationOption: Any = typer.Option(
    False, "--no-isolation", help="Build in this environment instead of a fresh one."
)
ReportsOption: Any = typer.Option(
    Path("reports"), "--reports", help="Where to write one JUnit XML file per package."
)


def index_reader(url: str | None) -> IndexReader | None:
    return IndexClient(url, credentials_for_index(url)) if url else None


def _load(root: Path) -> Workspace:
    loaded = load_workspace(root)
    for warning in loaded.warnings:
        typer.echo(f"warning: {warning}", err=True)
    return loaded.workspace


def _index_url(option: str | None, workspace: Workspace) -> str | None:
    return option or os.environ.get("PUBKIT_INDEX_URL") or workspace.config.index_url


def _under_root(workspace: Workspace, path: Path) -> Path:
    return path if path.is_absolute() else workspace.root / path


def _in_order(workspace: Workspace, names: list[str] | None) -> list[Package]:
    """The named packages (all when none are named), dependencies first."""
    from pubkit.releasing.core.graph import DependencyGraph

    wanted = {workspace.package(name).normalized for name in names or ()} or set(workspace.names)
    order = DependencyGraph(workspace).topological_order()
    return [workspace.package(name) for name in order if name in wanted]


_PLAN_COLUMNS = ("package", "current", "next", "action", "why", "steps")


def _render(plan: ReleasePlan) -> None:
    import sys

    from pubkit.cli import render

    rows = []
    for entry in plan.entries:
        steps = ", ".join(entry.steps)
        changes = "; ".join(f"{c.old} -> {c.new}" for c in entry.requirement_changes)
        why = entry.reason + (f" (requirement {changes})" if changes else "")
        rows.append((entry.name, entry.current or "?", entry.next or "-", entry.action, why,
                     steps))  # fmt: skip
    releasing = len(plan.releases)
    verdict = f"{releasing} package(s) to release" if releasing else "nothing to release"
    if not sys.stdout.isatty() or os.environ.get("CI"):
        # A CI log has no width: every name and reason whole, never cut at 80 columns.
        for line in render.plain_table(_PLAN_COLUMNS, rows):
            typer.echo(line)
        typer.echo(verdict)
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(*_PLAN_COLUMNS)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(verdict)


def plan(
    packages: list[str] = SelectedPackages,
    workspace: Path = WorkspaceOption,
    index_url: str = IndexUrlOption,
    bump: str = BumpOption,
    dev: int = DevOption,
    final: bool = FinalOption,
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
) -> None:
    """Show what `pubkit release` would do; changes nothing."""
    if bump is not None and bump not in BUMP_PARTS:
        raise UsageError(f"--bump {bump!r} is unknown; use one of {', '.join(BUMP_PARTS)}")
    ws = _load(workspace)
    options = PlanOptions(
        strategy=ws.config.version_strategy,
        bump=cast("BumpPart | None", bump),
        dev_build=dev,
        only=tuple(ws.package(name).normalized for name in packages or ()),
        final=final,
    )
    # Named packages: their plan and that of what they need, not the rest of the monorepo.
    result = plan_release(ws, options, index=index_reader(_index_url(index_url, ws))).selected()
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _render(result)


def graph(
    workspace: Path = WorkspaceOption,
    fmt: str = typer.Option(
        "text", "--format", help="text (one line per dependency), dot (Graphviz) or mermaid."
    ),
) -> None:
    """Print the dependency graph of the workspace's packages."""
    from pubkit.releasing.core.graph import DependencyGraph
    from pubkit.releasing.core.graph_render import GRAPH_FORMATS, render_graph

    if fmt not in GRAPH_FORMATS:
        raise UsageError(f"--format {fmt!r} is unknown; use one of {', '.join(GRAPH_FORMATS)}")
    ws = _load(workspace)
    typer.echo(render_graph(DependencyGraph(ws), fmt), nl=False)


def build(
    packages: list[str] = EachPackage,
    workspace: Path = WorkspaceOption,
    out: Path = typer.Option(Path("dist"), "--out", help="Where to put dist/<package>/ files."),
    no_isolation: bool = NoIsolationOption,
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Packages built in parallel."),
) -> None:
    """Build the sdist, then the wheel from it, of each package in dependency order."""
    from concurrent.futures import ThreadPoolExecutor

    from pubkit.releasing.adapters.builder import PypaBuilder

    ws = _load(workspace)
    out_root = _under_root(ws, out)
    ordered = _in_order(ws, packages)
    # Builds need no other package installed, so they can all run at once; the output stays
    # in dependency order, and the first failure in that order is the one reported.
    with PypaBuilder(isolated=not no_isolation) as builder, ThreadPoolExecutor(jobs) as pool:
        futures = [pool.submit(builder.build, ws.root / package.path,
                               out_root / package.normalized, package.normalized)
                   for package in ordered]  # fmt: skip
        try:
            for future in futures:
                for path in future.result().files:
                    typer.echo(f"built {path}")
        except BaseException:
            pool.shutdown(cancel_futures=True)  # builds not yet started are not wanted
            raise


def publish(
    packages: list[str] = EachPackage,
    workspace: Path = WorkspaceOption,
    index_url: str = IndexUrlOption,
    upload_url: str = UploadUrlOption,
    dist: Path = BuiltDistOption,
) -> None:
    """Upload built files the index does not have yet; identical ones are skipped."""
    from pubkit.releasing.adapters.publisher import TwinePublisher
    from pubkit.releasing.core.publishing import upload_url_for
    from pubkit.releasing.steps import publish_package

    ws = _load(workspace)
    url = _index_url(index_url, ws)
    if not url:
        raise UsageError("no index URL: pass --index-url, set PUBKIT_INDEX_URL or index-url")
    explicit = upload_url or os.environ.get("PUBKIT_UPLOAD_URL")
    credentials = credentials_for_index(url, explicit)
    # Given the server's root, the simple API under it: what the upload URL comes from.
    url = IndexClient(url, credentials).simple_url()
    upload = explicit or upload_url_for(url)
    credentials = credentials or credentials_for_index(url, upload)
    reader = IndexClient(url, credentials)
    publisher = TwinePublisher(upload, credentials)
    dist_root = _under_root(ws, dist)
    from pubkit.releasing.workspace_files import read_version

    for package in _in_order(ws, packages):
        name = package.normalized
        version = read_version(ws, package)
        result = publish_package(name, dist_root / name, reader, publisher, version)
        for filename in result.uploaded:
            typer.echo(f"uploaded {filename}")
        for filename in result.already_there:
            typer.echo(f"already on the index: {filename}")


def check(
    packages: list[str] = EachPackage,
    workspace: Path = WorkspaceOption,
    dist: Path = BuiltDistOption,
) -> None:
    """Check built files as the index would, then with `twine check --strict`."""
    from pubkit.releasing.steps import check_package
    from pubkit.releasing.workspace_files import read_version

    ws = _load(workspace)
    dist_root = _under_root(ws, dist)
    for package in _in_order(ws, packages):
        version = read_version(ws, package)
        for path in check_package(package.normalized, version, dist_root / package.normalized):
            typer.echo(f"checked {path.name}")


def test(
    packages: list[str] = EachPackage,
    workspace: Path = WorkspaceOption,
    index_url: str = IndexUrlOption,
    dist: Path = BuiltDistOption,
    reports: Path = ReportsOption,
) -> None:
    """Test each package's built wheel in a fresh virtualenv, in dependency order."""
    from pubkit.releasing.steps import TestsFailedError, test_package

    ws = _load(workspace)
    url = _index_url(index_url, ws)
    dist_root = _under_root(ws, dist)
    reports_dir = _under_root(ws, reports)
    failed = []
    for package in _in_order(ws, packages):
        name = package.normalized
        outcome = test_package(ws, package, dist_root, reports_dir, index_url=url)
        against = ", ".join(f"{dep} {version}" for dep, version in outcome.tested_with.items()
                            if dep != name)  # fmt: skip
        shown = f"{outcome.summary} (against {against})" if against else outcome.summary
        typer.echo(f"{'passed' if outcome.passed else 'FAILED'} {name}: {shown}")
        if not outcome.passed:
            failed.append(name)
    if failed:
        raise TestsFailedError(
            f"tests failed for {', '.join(failed)}; see the JUnit reports in {reports_dir}"
        )


def release(
    packages: list[str] = SelectedPackages,
    workspace: Path = WorkspaceOption,
    index_url: str = IndexUrlOption,
    upload_url: str = UploadUrlOption,
    bump: str = BumpOption,
    dev: int = DevOption,
    final: bool = FinalOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; change nothing."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Packages released in parallel."),
    push: bool = typer.Option(False, "--push", help="Push the tags (and release commit)."),
    commit: bool = typer.Option(
        True, "--commit/--no-commit", help="Commit the versions pubkit writes before tagging."
    ),
    json_file: Path = typer.Option(None, "--json", help="Write the result as JSON here."),
    junit_file: Path = typer.Option(None, "--junit", help="Write a JUnit report of the steps."),
    dist: Path = typer.Option(Path("dist"), "--dist", help="Where to put dist/<package>/ files."),
    reports: Path = ReportsOption,
    no_isolation: bool = NoIsolationOption,
) -> None:
    """Version, build, check, test, publish and tag every package that needs a release."""
    from pubkit.cli import render
    from pubkit.releasing.pipeline import ReleaseOptions
    from pubkit.releasing.pipeline import release as run_release

    try:
        if bump is not None and bump not in BUMP_PARTS:
            raise UsageError(f"--bump {bump!r} is unknown; use one of {', '.join(BUMP_PARTS)}")
        ws = _load(workspace)
        url = _index_url(index_url, ws)
        upload = upload_url or os.environ.get("PUBKIT_UPLOAD_URL")
        options = ReleaseOptions(
            plan=PlanOptions(
                strategy=ws.config.version_strategy,
                bump=cast("BumpPart | None", bump),
                dev_build=dev,
                only=tuple(ws.package(name).normalized for name in packages or ()),
                final=final,
            ),
            index_url=url,
            upload_url=upload,
            dry_run=dry_run,
            jobs=jobs,
            push=push,
            commit=commit,
            dist_dir=dist,
            reports_dir=reports,
            isolated_build=not no_isolation,
        )
        if dry_run:
            result = run_release(ws, options)
            _render(result.plan)
        else:
            from pubkit.releasing.planning import plan_release as preview

            progress: render.PlainProgress | render.LiveProgress = render.PlainProgress()
            if render.interactive():
                progress = render.LiveProgress(preview(ws, options.plan, index=index_reader(
                    options.index_url)))  # fmt: skip
            with progress, _cancel_on_signals():
                result = run_release(ws, options, on_event=progress)
    except PubkitError as error:
        _write_failure(error, json_file, junit_file)
        from pubkit.releasing.adapters.process import CANCELLATION

        if CANCELLATION.signal is not None:  # stopped while planning
            typer.echo(f"error: {error.message}", err=True)
            raise typer.Exit(128 + CANCELLATION.signal) from None
        raise
    for warning in result.plan.warnings:
        typer.echo(f"warning: {warning}", err=True)
    for note in result.plan.notes:
        typer.echo(f"note: {note}", err=True)
    for line in render.summary_lines(result):
        typer.echo(line)
    if json_file is not None:
        render.write_json(result, json_file)
    if junit_file is not None:
        render.write_junit(result, junit_file)
    if not result.ok:
        raise typer.Exit(result.exit_code)


@contextmanager
def _cancel_on_signals() -> Iterator[None]:
    """SIGTERM (a cancelled CI job) and SIGINT stop the children's process groups; the run
    then winds down: temporary venvs go, the summary and the result files are written."""
    import signal

    from pubkit.releasing.adapters.process import CANCELLATION

    def on_signal(signum: int, _frame: object) -> None:
        CANCELLATION.cancel(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _write_failure(error: PubkitError, json_file: Path | None, junit_file: Path | None) -> None:
    """A run stopped before it started still leaves its result files, for the CI to read."""
    from xml.etree import ElementTree

    if json_file is not None:
        json_file.parent.mkdir(parents=True, exist_ok=True)
        document = {"ok": False, "exit_code": error.exit_code, "error": error.message,
                    "packages": []}  # fmt: skip
        json_file.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    if junit_file is not None:
        suites = ElementTree.Element("testsuites", name="pubkit release")
        suite = ElementTree.SubElement(suites, "testsuite", name="pubkit", tests="1",
                                       failures="1", errors="0", skipped="0")  # fmt: skip
        case = ElementTree.SubElement(suite, "testcase", name="release", classname="pubkit")
        ElementTree.SubElement(case, "failure", message=error.message).text = error.message
        junit_file.parent.mkdir(parents=True, exist_ok=True)
        junit_file.write_text(ElementTree.tostring(suites, encoding="unicode"), encoding="utf-8")
