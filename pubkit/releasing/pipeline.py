"""``release``: run a release plan through the steps, in dependency order, in parallel where
the graph allows; the one sequencer of side effects.

1. plan (reads only); a dry run stops here;
2. write the new versions and widened requirements; they are committed (with a short
   subject, the list in the body) just before the first upload, so the tags mark that
   commit and a run that publishes nothing commits nothing and puts the files back; dev
   builds always put them back;
3. per package, once its internal dependencies are through: build, check, test, publish, tag;
   a failure stops the package and its dependents (which name every failed dependency),
   independent packages go on;
4. push the tags (and the release commit) that this run made, even when a package failed.

Every step is safe to repeat, and the plan finishes what an earlier run started (see
:mod:`pubkit.releasing.core.plan`), so re-running after any failure completes the release.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pubkit.errors import PubkitError, UsageError
from pubkit.releasing.adapters.builder import Builder, PypaBuilder
from pubkit.releasing.adapters.git import Git
from pubkit.releasing.adapters.index_client import Credentials, IndexClient, IndexReader
from pubkit.releasing.adapters.process import CANCELLATION
from pubkit.releasing.adapters.publisher import TwinePublisher
from pubkit.releasing.adapters.tester import VenvTester
from pubkit.releasing.core.events import (
    EventSink,
    PackageFinished,
    PackageStatus,
    StepFinished,
    StepStarted,
    ignore,
)
from pubkit.releasing.core.graph import DependencyGraph
from pubkit.releasing.core.plan import PlanEntry, PlanOptions, ReleasePlan
from pubkit.releasing.core.workspace import Workspace, vcs_build_env


@dataclass(frozen=True)
class ReleaseOptions:
    plan: PlanOptions = field(default_factory=PlanOptions)
    index_url: str | None = None  # the simple API, e.g. https://pypi.example.com/simple/
    upload_url: str | None = None  # default: derived from index_url
    credentials: Credentials | None = None  # default: found as the CLI finds them
    dry_run: bool = False
    jobs: int = 1
    push: bool = False  # push the tags (and the release commit) to ``remote``
    remote: str = "origin"
    commit: bool = True  # commit the versions pubkit writes (not for dev builds)
    dist_dir: Path = Path("dist")  # relative paths are under the workspace root
    reports_dir: Path = Path("reports")
    isolated_build: bool = True


@dataclass(frozen=True)
class StepResult:
    step: str
    ok: bool
    seconds: float
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "ok": self.ok, "seconds": round(self.seconds, 3),
                "detail": self.detail}  # fmt: skip


@dataclass(frozen=True)
class PackageResult:
    name: str
    current: str | None
    version: str | None  # the version released (or planned); None when skipped
    status: PackageStatus
    reason: str  # why it was in or out of the plan, or why it failed or was blocked
    steps: tuple[StepResult, ...] = ()
    uploaded: tuple[str, ...] = ()
    already_there: tuple[str, ...] = ()
    tag: str | None = None
    junit: Path | None = None
    # The internal packages the tests ran against, as installed in the test venv.
    tested_with: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "current": self.current,
            "version": self.version,
            "status": self.status,
            "reason": self.reason,
            "steps": [step.to_dict() for step in self.steps],
            "uploaded": list(self.uploaded),
            "already_there": list(self.already_there),
            "tag": self.tag,
            "junit": str(self.junit) if self.junit else None,
            "tested_with": dict(self.tested_with),
        }


@dataclass(frozen=True)
class ReleaseResult:
    plan: ReleasePlan
    packages: tuple[PackageResult, ...]  # in dependency order
    dry_run: bool
    seconds: float
    commit: str | None = None  # the release commit holding the new versions, if any
    pushed: tuple[str, ...] = ()
    cancelled: int | None = None  # the signal that stopped the run (SIGTERM, SIGINT)

    @property
    def ok(self) -> bool:
        return self.cancelled is None and all(
            package.status not in ("failed", "blocked", "cancelled") for package in self.packages
        )

    @property
    def exit_code(self) -> int:
        if self.cancelled is not None:
            return 128 + self.cancelled  # 143 for SIGTERM, 130 for SIGINT, as shells do
        return 0 if self.ok else 1

    def package(self, name: str) -> PackageResult:
        return next(package for package in self.packages if package.name == name)

    def by_status(self, status: PackageStatus) -> tuple[PackageResult, ...]:
        return tuple(package for package in self.packages if package.status == status)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "exit_code": self.exit_code,
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 3),
            "commit": self.commit,
            "pushed": list(self.pushed),
            "cancelled": signal.Signals(self.cancelled).name if self.cancelled else None,
            "packages": [package.to_dict() for package in self.packages],
            "warnings": list(self.plan.warnings),
            "notes": list(self.plan.notes),
        }


class _Recorder:
    """Times the steps of one package and reports them to the sink."""

    def __init__(self, package: str, sink: EventSink) -> None:
        self.package = package
        self.sink = sink
        self.steps: list[StepResult] = []

    @contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        """Run a step; the block appends what it did to the yielded list."""
        self.sink(StepStarted(self.package, name))
        started = time.monotonic()
        detail: list[str] = []
        try:
            yield detail
        except PubkitError as error:
            self._finish(name, False, started, error.message)
            raise
        except Exception as error:  # a bug, or an adapter's surprise: still one package's
            self._finish(name, False, started, f"{type(error).__name__}: {error}")
            raise
        self._finish(name, True, started, "; ".join(detail))

    def _finish(self, name: str, ok: bool, started: float, detail: str) -> None:
        result = StepResult(name, ok, time.monotonic() - started, detail)
        self.steps.append(result)
        self.sink(StepFinished(self.package, name, ok, result.seconds, detail))


@dataclass
class _Context:
    workspace: Workspace
    options: ReleaseOptions
    git: Git
    index: IndexReader | None
    builder: Builder
    tester: VenvTester
    publisher: TwinePublisher | None
    sink: EventSink
    git_lock: threading.Lock = field(default_factory=threading.Lock)
    # The version commit, made when the first package is about to be published (or tagged):
    # a run that publishes nothing commits nothing.
    pending_commit: tuple[list[Path], str] | None = None
    commit: str | None = None

    def under_root(self, path: Path) -> Path:
        return path if path.is_absolute() else self.workspace.root / path

    def ensure_commit(self) -> None:
        with self.git_lock:
            if self.pending_commit is not None:
                paths, message = self.pending_commit
                self.pending_commit = None
                self.commit = self.git.commit(paths, message)


def _run_package(context: _Context, entry: PlanEntry, built: Mapping[str, Path]) -> PackageResult:
    """Build, check, test, publish and tag one package (the steps its entry lists);
    ``built``: the wheels of the internal dependencies this release built, for its tests."""
    from pubkit.releasing.steps import (
        TestsFailedError,
        check_package,
        publish_package,
        tag_release,
        test_package,
    )

    assert entry.next is not None
    name, version = entry.name, entry.next
    package = context.workspace.package(name)
    dist_dir = context.under_root(context.options.dist_dir) / name
    recorder = _Recorder(name, context.sink)
    uploaded: tuple[str, ...] = ()
    already: tuple[str, ...] = ()
    tag: str | None = None
    junit: Path | None = None
    tested_with: Mapping[str, str] = {}
    try:
        if "build" in entry.steps:
            with recorder.step("build") as did:
                did.extend(path.name for path in _build(context, name, version, dist_dir))
        if "check" in entry.steps:
            with recorder.step("check") as did:
                did.append(f"{len(check_package(name, version, dist_dir))} file(s) passed")
        if "test" in entry.steps:
            with recorder.step("test") as did:
                outcome = test_package(
                    context.workspace, package, dist_dir.parent,
                    context.under_root(context.options.reports_dir), context.tester,
                    index_url=context.options.index_url, version=version, built=built,
                    index=context.index,
                )  # fmt: skip
                junit, tested_with = outcome.junit, outcome.tested_with
                if not outcome.passed:
                    report = f" (see {junit})" if junit is not None else ""
                    raise TestsFailedError(f"tests failed: {outcome.summary}{report}")
                did.append(outcome.summary)
        if "publish" in entry.steps:
            with recorder.step("publish") as did:
                assert context.index is not None and context.publisher is not None
                context.ensure_commit()
                published = publish_package(name, dist_dir, context.index, context.publisher,
                                            version)  # fmt: skip
                uploaded, already = published.uploaded, published.already_there
                did.append(f"uploaded {len(uploaded)}, already on the index {len(already)}")
        # A lockstep group's one tag is written once all its members are through.
        if "tag" in entry.steps and context.workspace.group_of(name) is None:
            context.ensure_commit()
            spec = context.workspace.tag_spec(name)
            with recorder.step("tag") as did, context.git_lock:
                tag = tag_release(context.git, spec.format, spec.name, version)
                did.append(tag)
    except Exception as error:
        reason = (error.message if isinstance(error, PubkitError)
                  else f"{type(error).__name__}: {error}")  # fmt: skip
        failed = recorder.steps[-1].step if recorder.steps else "release"
        status: PackageStatus = "cancelled" if CANCELLATION.cancelled() else "failed"
        return PackageResult(name, entry.current, version, status, f"{failed}: {reason}",
                             tuple(recorder.steps), uploaded, already, tag, junit,
                             tested_with)  # fmt: skip
    return PackageResult(name, entry.current, version, "released", entry.reason,
                         tuple(recorder.steps), uploaded, already, tag, junit,
                         tested_with)  # fmt: skip


def _build(context: _Context, name: str, version: str, dist_dir: Path) -> tuple[Path, ...]:
    from pubkit.core.distributions import parse_distribution_filename
    from pubkit.releasing.steps import distributions

    for stale in distributions(dist_dir, name, version).values():
        stale.unlink()  # an earlier build of this version, maybe from other sources
    package = context.workspace.package(name)
    package_dir = context.workspace.root / package.path
    # A version from git tags: the build is told it, as the tag is written after the upload.
    env = vcs_build_env(name, version) if package.version_source.kind == "vcs" else None
    built = context.builder.build(package_dir, dist_dir, name, env=env)
    found = parse_distribution_filename(built.sdist.name).version
    if str(found) != version:
        raise PubkitError(
            f"{name} built as version {found}, but the plan releases {version}; check how its"
            " build backend finds the version"
        )
    return built.files


def _write_versions(
    context: _Context, plan: ReleasePlan
) -> tuple[dict[Path, str], dict[str, StepResult]]:
    """Write each entry's new version and widened requirements. Returns the original text
    of every file written and each package's version step; if one write fails, every file
    is put back and the error raised, so the run stops having changed nothing."""
    from pubkit.releasing.version_files import widen_requirements, write_version
    from pubkit.releasing.workspace_files import version_file

    originals: dict[Path, str] = {}
    steps: dict[str, StepResult] = {}
    try:
        for entry in plan.releases:
            if "version" not in entry.steps or entry.next is None:
                continue
            package = context.workspace.package(entry.name)
            recorder = _Recorder(entry.name, context.sink)
            with recorder.step("version") as did:
                for path in (context.workspace.root / package.path / "pyproject.toml",
                             version_file(context.workspace, package)):  # fmt: skip
                    if path is not None:
                        originals.setdefault(path, path.read_text(encoding="utf-8"))
                if entry.next != entry.current and package.version_source.kind != "vcs":
                    write_version(context.workspace, package, entry.next)
                    did.append(f"{entry.current} -> {entry.next}")
                widened = {change.dependency: change.new for change in entry.requirement_changes}
                if widen_requirements(context.workspace, package, widened):
                    did.append("requires " + ", ".join(widened.values()))
            steps[entry.name] = recorder.steps[0]
        _update_locks(context, plan, originals)
    except BaseException:
        _restore(originals)
        raise
    return originals, steps


def _update_locks(context: _Context, plan: ReleasePlan, originals: dict[Path, str]) -> None:
    """Move the workspace packages' versions in uv.lock, poetry.lock and pdm.lock too, so
    the release commit leaves them true (``uv lock --check`` passes)."""
    from pubkit.releasing.lock_files import lock_files, update_lock

    versions = {e.name: e.next for e in plan.releases
                if e.next is not None and e.next != e.current}  # fmt: skip
    if not versions or not originals:
        return
    workspace = context.workspace
    dirs = [workspace.root / p.path for p in workspace.packages]
    for path in lock_files(workspace.root, dirs):
        text = path.read_text(encoding="utf-8")
        if update_lock(path, versions):
            originals.setdefault(path, text)


def _restore(originals: dict[Path, str]) -> None:
    for path, text in originals.items():
        path.write_text(text, encoding="utf-8")


def release(
    workspace: Workspace,
    options: ReleaseOptions | None = None,
    *,
    git: Git | None = None,
    index: IndexReader | None = None,
    builder: Builder | None = None,
    tester: VenvTester | None = None,
    publisher: TwinePublisher | None = None,
    on_event: EventSink | None = None,
) -> ReleaseResult:
    """Release ``workspace``: plan, then version, build, check, test, publish and tag each
    package that needs it. Returns what happened; raises only for what stops the whole run
    before it starts (configuration, git, the index unreachable)."""
    from pubkit.releasing.planning import plan_release

    options = options or ReleaseOptions()
    if options.jobs < 1:
        raise UsageError(f"--jobs must be 1 or more, not {options.jobs}")
    started = time.monotonic()
    sink = on_event or ignore
    git = git if git is not None else Git(workspace.root)
    if options.credentials is None and options.index_url:
        from pubkit.releasing.adapters.credentials import credentials_for_index

        # As the CLI finds them: PUBKIT_INDEX_* variables, .pypirc, the keyring.
        found = credentials_for_index(options.index_url, options.upload_url)
        options = replace(options, credentials=found)
    if index is None and options.index_url:
        client = IndexClient(options.index_url, options.credentials)
        # Given the server's root, the simple API under it: what the upload URL comes from.
        options = replace(options, index_url=client.simple_url())
        index = client
    plan = plan_release(workspace, options.plan, git=git, index=index)
    if options.dry_run:
        planned = tuple(_unrun(entry, "planned" if entry.next else "skipped") for entry in
                        plan.entries)  # fmt: skip
        return ReleaseResult(plan, planned, True, time.monotonic() - started)
    if plan.releases and any("publish" in e.steps for e in plan.releases) and not index:
        raise UsageError(
            "no index URL: pass --index-url, set PUBKIT_INDEX_URL or index-url in [tool.pubkit]"
        )
    own_builder = None
    if builder is None:
        builder = own_builder = PypaBuilder(
            isolated=options.isolated_build, env={"SOURCE_DATE_EPOCH": _source_date_epoch(git)}
        )
    context = _Context(
        workspace, options, git, index,
        builder,
        tester or VenvTester(),
        publisher or _publisher(options),
        sink,
    )  # fmt: skip
    dev_build = options.plan.dev_build is not None
    will_commit = options.commit and not dev_build and any("version" in e.steps
                                                           for e in plan.releases)  # fmt: skip
    if options.push and will_commit and git.branch() is None:
        raise UsageError(
            "HEAD is detached, so pubkit cannot tell which branch to push its release commit"
            " to; check out the branch (git checkout -B BRANCH), or pass --no-commit"
        )
    preflight(context, plan)
    if CANCELLATION.cancelled():  # stopped while planning: nothing written, nothing started
        cancelled = tuple(_unrun(e, "cancelled", "not started: the run was cancelled")
                          if e.next else _unrun(e, "skipped") for e in plan.entries)  # fmt: skip
        return ReleaseResult(plan, cancelled, False, time.monotonic() - started,
                             cancelled=CANCELLATION.signal)  # fmt: skip
    originals, version_steps = _write_versions(context, plan)
    try:
        if originals:
            context.workspace = _reload(workspace)
        if originals and will_commit:
            context.pending_commit = (sorted(originals), commit_message(plan))
        results = _tag_groups(context, plan, _schedule(context, plan))
    finally:
        if dev_build or context.pending_commit is not None:
            # A branch build, or a run that published nothing, leaves the tree as it was.
            _restore(originals)
        if own_builder is not None:
            own_builder.close()  # its build environments
    commit = context.commit
    results = tuple(
        replace(result, steps=(version_steps[result.name], *result.steps))
        if result.name in version_steps else result
        for result in results
    )  # fmt: skip
    push = options.push and not CANCELLATION.cancelled()
    pushed = _push(context, results, commit) if push else ()
    return ReleaseResult(plan, results, False, time.monotonic() - started, commit, pushed,
                         CANCELLATION.signal)  # fmt: skip


def preflight(context: _Context, plan: ReleasePlan) -> None:
    """Everything that can be checked before a file is written: the tools, a clean tree when
    the release commits and tags, and that the upload URL answers and accepts the
    credentials (the index's listing already did, in planning). Raises the first problem."""
    import importlib.util

    releasing = plan.releases
    if not releasing:
        return
    missing = [tool for tool, step in (("build", "build"), ("twine", "publish"))
               if any(step in e.steps for e in releasing)
               and importlib.util.find_spec(tool) is None]  # fmt: skip
    if missing:
        raise UsageError(
            f"{', '.join(missing)} is not installed here; pip install {' '.join(missing)}"
        )
    tags = any("tag" in e.steps for e in releasing) and context.options.plan.dev_build is None
    if tags and not context.git.is_clean():
        raise UsageError(
            "tracked files have uncommitted changes (see `git status`): the release would build"
            " them but tag the commit without them; commit or stash them first"
        )
    if context.publisher is not None and any("publish" in e.steps for e in releasing):
        context.publisher.probe()


def commit_message(plan: ReleasePlan) -> str:
    """``release: acme-core 2.0.0`` for one package, ``release: 3 packages`` for more, with
    one line per package in the body."""
    written = [e for e in plan.releases if "version" in e.steps]
    if len(written) == 1:
        return f"release: {written[0].name} {written[0].next}"
    lines = [f"- {entry.name} {entry.next}" for entry in written]
    return f"release: {len(written)} packages\n\n" + "\n".join(lines)


def _unrun(entry: PlanEntry, status: PackageStatus, reason: str | None = None) -> PackageResult:
    return PackageResult(entry.name, entry.current, entry.next, status, reason or entry.reason)


def _source_date_epoch(git: Git) -> str:
    # Builds of one commit get one timestamp, so backends that honour it build the same
    # bytes twice; an explicit SOURCE_DATE_EPOCH wins.
    return os.environ.get("SOURCE_DATE_EPOCH") or str(git.commit_time())


def _upload_url(options: ReleaseOptions) -> str | None:
    from pubkit.releasing.core.publishing import upload_url_for

    if not options.index_url:
        return options.upload_url
    return options.upload_url or upload_url_for(options.index_url)


def _publisher(options: ReleaseOptions) -> TwinePublisher | None:
    upload_url = _upload_url(options)
    return TwinePublisher(upload_url, options.credentials) if upload_url else None


def _reload(workspace: Workspace) -> Workspace:
    from pubkit.releasing.workspace_files import load_workspace

    return load_workspace(workspace.root).workspace


def _blocking(context: _Context, graph: DependencyGraph) -> dict[str, set[str]]:
    """name -> the internal packages whose failure stops it: through runtime requirements
    and extras that are not among its test extras, transitively. A package needed only by
    tests (a test extra, a dependency group, or an edge dropped from a cycle) never blocks:
    the tests then use its released version."""
    from pubkit.releasing.core.testenv import settings_of

    workspace = context.workspace
    test_extras = {p.normalized: set(settings_of(workspace.config, p).extras)
                   for p in workspace.packages}  # fmt: skip
    direct: dict[str, set[str]] = {name: set() for name in graph.names}
    for edge in graph.edges:
        if edge in graph.dropped or edge.kind == "group":
            continue
        if edge.kind == "runtime" or edge.via not in test_extras[edge.dependent]:
            direct[edge.dependent].add(edge.dependency)
    closure: dict[str, set[str]] = {}
    for name in graph.names:
        seen: set[str] = set()
        todo = list(direct[name])
        while todo:
            dependency = todo.pop()
            if dependency not in seen:
                seen.add(dependency)
                todo += direct[dependency]
        closure[name] = seen - {name}
    return closure


def _schedule(context: _Context, plan: ReleasePlan) -> tuple[PackageResult, ...]:
    """Run the releasing packages, each once its releasing dependencies are through; a
    failure stops the packages that need it at runtime, never those that need it only for
    their tests."""
    from pubkit.releasing.steps import built_wheel

    graph = DependencyGraph(context.workspace)
    releasing = {entry.name: entry for entry in plan.releases}
    needs = {name: graph.dependencies_of(name, ordered=True) & releasing.keys()
             for name in releasing}  # fmt: skip
    blocking = _blocking(context, graph)
    dist_root = context.under_root(context.options.dist_dir)
    results: dict[str, PackageResult] = {}
    waiting = list(releasing)
    with ThreadPoolExecutor(max_workers=context.options.jobs,
                            thread_name_prefix="pubkit-release") as pool:  # fmt: skip
        running: dict[Future[PackageResult], str] = {}
        while waiting or running:
            if CANCELLATION.cancelled():  # SIGTERM/SIGINT: start nothing more
                for name in waiting:
                    reason = "not started: the run was cancelled"
                    results[name] = _unrun(releasing[name], "cancelled", reason)
                waiting.clear()
            for name in list(waiting):
                if not needs[name] <= results.keys():
                    continue
                waiting.remove(name)
                # Decided once every dependency is through, so all the stopped ones are named;
                # only runtime dependencies block (a test-only one uses the released version).
                stopped = [dep for dep in sorted(blocking[name] & releasing.keys())
                           if results[dep].status != "released"]  # fmt: skip
                if stopped:
                    failed = all(results[dep].status == "failed" for dep in stopped)
                    reason = (f"not released because {', '.join(stopped)}"
                              f" {'failed' if failed else 'did not release'}")  # fmt: skip
                    results[name] = _unrun(releasing[name], "blocked", reason)
                    context.sink(PackageFinished(name, releasing[name].next, "blocked", reason))
                else:
                    built = {}
                    for dep in needs[name]:
                        wheel = built_wheel(dist_root, context.workspace.package(dep),
                                            releasing[dep].next)  # fmt: skip
                        if results[dep].status == "released" and wheel is not None:
                            built[dep] = wheel
                    running[pool.submit(_run_package, context, releasing[name], built)] = name
            if not running:
                continue
            # A timeout, so that a cancellation is seen while the running packages finish.
            done, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                result = future.result()
                results[running.pop(future)] = result
                context.sink(PackageFinished(result.name, result.version, result.status,
                                             result.reason))  # fmt: skip
    ordered = []
    for entry in plan.entries:
        ordered.append(results.get(entry.name) or _unrun(entry, "skipped"))
    return tuple(ordered)


def _tag_groups(
    context: _Context, plan: ReleasePlan, results: tuple[PackageResult, ...]
) -> tuple[PackageResult, ...]:
    """Write the one tag of each lockstep group whose releasing members all released (a
    re-run finishes the others and then tags); the members' results name it."""
    from pubkit.releasing.steps import tag_release

    workspace = context.workspace
    tagged: dict[str, str] = {}
    by_name = {result.name: result for result in results}
    for entry in plan.releases:
        group = workspace.group_of(entry.name)
        if group is None or group in tagged or "tag" not in entry.steps:
            continue
        members = [e for e in plan.releases if workspace.group_of(e.name) == group]
        if all(by_name[m.name].status == "released" for m in members):
            context.ensure_commit()
            spec = workspace.tag_spec(entry.name)
            assert entry.next is not None
            with context.git_lock:
                tagged[group] = tag_release(context.git, spec.format, spec.name, entry.next)
    return tuple(
        replace(result, tag=tagged[group])
        if (group := workspace.group_of(result.name)) in tagged and result.status == "released"
        else result
        for result in results
    )


def _push(
    context: _Context, results: tuple[PackageResult, ...], commit: str | None
) -> tuple[str, ...]:
    """Push the release commit (when HEAD is on a branch) and every tag this run wrote."""
    git, remote = context.git, context.options.remote
    pushed: list[str] = []
    branch = git.branch()
    if commit is not None and branch is not None:  # checked before the run: never detached
        git.push_head(branch, remote)
        pushed.append(branch)
    tags = [result.tag for result in results if result.tag]
    git.push_tags(tags, remote)
    return (*pushed, *tags)
