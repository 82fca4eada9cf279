"""Planning a release: gather the facts at the edges (files, git, index), then decide in
:func:`pubkit.releasing.core.plan.make_plan`. Reads only: nothing here changes git, files or
the index."""

from __future__ import annotations

from pathlib import PurePosixPath

from pubkit.errors import ConfigurationError
from pubkit.releasing.adapters.git import Git
from pubkit.releasing.adapters.index_client import IndexReader
from pubkit.releasing.core.plan import PackageFacts, PlanOptions, ReleasePlan, make_plan
from pubkit.releasing.core.publishing import complete_versions
from pubkit.releasing.core.versioning import TagFormat
from pubkit.releasing.core.workspace import Package, Workspace
from pubkit.releasing.workspace_files import read_version

SHALLOW_ADVICE = (
    "this is a shallow clone without release tags, so pubkit cannot tell what changed; fetch"
    " history and tags (`git fetch --tags --unshallow`; Jenkins: enable 'Fetch tags' and"
    " disable 'Shallow clone'; CircleCI: run `git fetch --tags --unshallow` after checkout)"
)


def nested_packages(workspace: Workspace, package: Package) -> tuple[PurePosixPath, ...]:
    """The other packages inside ``package``'s directory (plugins/* under a root package):
    their files are theirs, not its."""
    return tuple(
        other.path
        for other in workspace.packages
        if other is not package
        and other.path != package.path
        and (package.path == PurePosixPath(".") or package.path in other.path.parents)
    )


def _changed_files(workspace: Workspace, package: Package, git: Git, since: str) -> tuple[str, ...]:
    changed = []
    nested = nested_packages(workspace, package)
    for path in git.changed_files(since, package.path, exclude=nested):
        inside = PurePosixPath(path).relative_to(package.path)
        if not workspace.config.is_excluded(inside):
            changed.append(str(path))
    return tuple(changed)


def gather_facts(
    workspace: Workspace, git: Git | None, index: IndexReader | None, needs_history: bool
) -> dict[str, PackageFacts]:
    """Versions, what the index has, and what changed since each package's last tag (its
    own tag, or its lockstep group's)."""
    tags: list[str] = []
    if git is not None:
        git.check_repository()
        tags = git.tags()
        if needs_history and not tags and git.is_shallow():
            raise ConfigurationError(SHALLOW_ADVICE)
    facts: dict[str, PackageFacts] = {}
    for package in workspace.packages:
        spec = workspace.tag_spec(package.normalized)
        tag_format = TagFormat(spec.format)
        last = tag_format.latest(spec.name, tags) if git is not None else None
        changed: tuple[str, ...] | None = None
        messages: tuple[str, ...] = ()
        if git is not None and last is not None:
            changed = _changed_files(workspace, package, git, last.tag)
        if git is not None and needs_history:
            messages = tuple(git.commit_messages(last.tag if last else None, package.path,
                                                 exclude=nested_packages(workspace, package)))
        listing = index.project(package.normalized) if index is not None else None
        vcs = package.version_source.kind == "vcs"
        current = read_version(workspace, package)
        if vcs:
            current = str(last.version) if last is not None else None
        facts[package.normalized] = PackageFacts(
            current=current,
            released=listing.versions if listing is not None else None,
            last_tag=last,
            changed_files=changed,
            commit_messages=messages,
            complete=complete_versions(listing.files) if listing is not None else None,
            tagged=frozenset(
                parsed.version
                for parsed in (tag_format.parse(t, spec.name) for t in tags)
                if parsed is not None
            ),
            vcs=vcs,
        )
    return facts


def plan_release(
    workspace: Workspace,
    options: PlanOptions | None = None,
    *,
    git: Git | None = None,
    index: IndexReader | None = None,
) -> ReleasePlan:
    """The release plan of ``workspace``: ask git and the index, decide, change nothing."""
    options = options or PlanOptions()
    git = git if git is not None else Git(workspace.root)
    needs_history = (
        options.strategy != "manual" or options.bump is not None or (options.dev_build is not None)
    )
    return make_plan(workspace, gather_facts(workspace, git, index, needs_history), options)
