"""The release plan: which package gets which version, why, and in what order. Pure.

The facts (current versions, what the index has, what changed since the last tag, commit
messages) are gathered at the edges and handed in as :class:`PackageFacts`; deciding is
done here, so every rule is a plain function with a unit test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from packaging.version import Version

from pubkit.core.graph import METADATA_KINDS, DependencyGraph
from pubkit.core.versioning import (
    BumpPart,
    ReleaseTag,
    bump,
    dev_version,
    format_requirement,
    next_version_conventional,
    parse_version,
    satisfies,
    widen_requirement,
)
from pubkit.core.workspace import Workspace
from pubkit.errors import UsageError

STEPS = ("version", "build", "check", "test", "publish", "tag")
Action = Literal["release", "skip"]


@dataclass(frozen=True)
class PackageFacts:
    """What the edges found out about one package (normalized name)."""

    current: str | None  # None when the version could not be read (e.g. from VCS)
    released: frozenset[Version] | None  # versions on the index; None if not asked
    last_tag: ReleaseTag | None = None
    changed_files: tuple[str, ...] | None = None  # since last_tag; None without a tag
    commit_messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlanOptions:
    strategy: Literal["manual", "bump", "conventional"] = "manual"
    bump: BumpPart | None = None
    dev_build: int | None = None  # CI build number for X.Y.Z.devN releases
    only: tuple[str, ...] = ()  # restrict to these packages (normalized), plus what they need


@dataclass(frozen=True)
class RequirementChange:
    """A dependent's requirement on an internal package, widened to admit its new version."""

    dependency: str
    old: str
    new: str


@dataclass(frozen=True)
class PlanEntry:
    name: str  # normalized
    path: str
    current: str | None
    next: str | None
    action: Action
    reason: str
    steps: tuple[str, ...] = ()
    requirement_changes: tuple[RequirementChange, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "current": self.current,
            "next": self.next,
            "action": self.action,
            "reason": self.reason,
            "steps": list(self.steps),
            "requirement_changes": [vars(change) for change in self.requirement_changes],
        }


@dataclass(frozen=True)
class ReleasePlan:
    entries: tuple[PlanEntry, ...]  # in release (topological) order
    warnings: tuple[str, ...] = field(default=())

    @property
    def releases(self) -> tuple[PlanEntry, ...]:
        return tuple(entry for entry in self.entries if entry.action == "release")

    def entry(self, name: str) -> PlanEntry:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise UsageError(f"{name!r} is not in the plan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "packages": [entry.to_dict() for entry in self.entries],
            "warnings": list(self.warnings),
        }


def _changed(facts: PackageFacts) -> bool:
    return facts.last_tag is None or bool(facts.changed_files)


def _change_reason(facts: PackageFacts) -> str:
    if facts.last_tag is None:
        return "never released from this history (no release tag)"
    count = len(facts.changed_files or ())
    return f"{count} file(s) changed since {facts.last_tag.tag}"


def _decide(
    name: str, facts: PackageFacts, options: PlanOptions, affected: set[str]
) -> tuple[str | None, str, list[str]]:
    """The next version (None: skip), the reason, and warnings, for one package."""
    warnings: list[str] = []
    current = facts.current
    if current is None:
        return None, "its version is not readable (set by VCS); pubkit cannot release it", []
    if options.dev_build is not None:
        if name not in affected:
            return None, "unchanged since its last release", []
        return str(dev_version(current, options.dev_build)), "dev build of a changed package", []
    if options.strategy == "manual":
        released = facts.released or frozenset()
        if parse_version(current) in released:
            if facts.last_tag is not None and facts.changed_files:
                warnings.append(
                    f"{name}: {len(facts.changed_files)} file(s) changed since"
                    f" {facts.last_tag.tag} but {current} is already on the index; bump its"
                    " version to release the change"
                )
            return None, f"{current} is already on the index", warnings
        if facts.released is None:
            return current, "the index was not asked (no index URL)", warnings
        return current, f"{current} is not on the index yet", warnings
    if name not in affected:
        return None, "unchanged since its last release", []
    if options.strategy == "bump":
        part: BumpPart = options.bump or "patch"
        reason = _change_reason(facts) if _changed(facts) else "a dependency is released"
        return str(bump(current, part)), reason, []
    proposed = next_version_conventional(current, facts.commit_messages)
    if proposed is None:
        if _changed(facts):
            return None, "no feat/fix/breaking commits since its last release", []
        proposed = bump(current, "patch")
        return str(proposed), "a dependency is released", []
    return str(proposed), _change_reason(facts), []


def make_plan(
    workspace: Workspace, facts: Mapping[str, PackageFacts], options: PlanOptions
) -> ReleasePlan:
    """Decide the release of every package of ``workspace`` from the gathered ``facts``."""
    graph = DependencyGraph(workspace)
    order = graph.topological_order()
    if options.bump is not None and options.strategy == "manual":
        options = PlanOptions("bump", options.bump, options.dev_build, options.only)
    selected = set(order)
    if options.only:
        unknown = [name for name in options.only if name not in selected]
        if unknown:
            raise UsageError(f"unknown package(s): {', '.join(unknown)}; see `pubkit plan`")
        selected = set(options.only)
    changed = {name for name in order if _changed(facts[name])}
    affected = graph.affected(changed, kinds=METADATA_KINDS)
    decisions: dict[str, str | None] = {}
    reasons: dict[str, str] = {}
    warnings: list[str] = []
    for name in order:
        if name not in selected:
            decisions[name], reasons[name] = None, "not selected"
            continue
        decisions[name], reasons[name], found = _decide(name, facts[name], options, affected)
        warnings.extend(found)
    entries = []
    for name in order:
        package = workspace.package(name)
        changes = _requirement_changes(graph, name, decisions)
        next_version = decisions[name]
        if next_version is None and changes and facts[name].current is not None:
            # Its dependency moves outside what it admits: it must be released too.
            next_version = str(bump(facts[name].current or "", options.bump or "patch"))
            decisions[name] = next_version
            reasons[name] = "its requirement on " + ", ".join(c.dependency for c in changes) + (
                " must admit the new version"
            )
        steps: tuple[str, ...] = ()
        if next_version is not None:
            steps = STEPS if next_version != facts[name].current else STEPS[1:]
        entries.append(
            PlanEntry(
                name=name,
                path=str(package.path),
                current=facts[name].current,
                next=next_version,
                action="release" if next_version is not None else "skip",
                reason=reasons[name],
                steps=steps,
                requirement_changes=tuple(changes),
            )
        )
    return ReleasePlan(tuple(entries), tuple(warnings))


def _requirement_changes(
    graph: DependencyGraph, name: str, decisions: Mapping[str, str | None]
) -> list[RequirementChange]:
    changes = []
    for edge in graph.edges_from(name):
        new_version = decisions.get(edge.dependency)
        if new_version is None or satisfies(edge.requirement, new_version):
            continue
        widened = widen_requirement(edge.requirement, new_version)
        changes.append(
            RequirementChange(
                edge.dependency, format_requirement(edge.requirement), format_requirement(widened)
            )
        )
    return changes

