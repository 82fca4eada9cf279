"""The release plan: which package gets which version, why, and in what order. Pure.

The facts (current versions, what the index has, what changed since the last tag, commit
messages) are gathered at the edges and handed in as :class:`PackageFacts`; deciding is
done here, so every rule is a plain function with a unit test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from packaging.version import Version

from pubkit.errors import UsageError
from pubkit.releasing.core.graph import METADATA_KINDS, DependencyGraph
from pubkit.releasing.core.versioning import (
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
from pubkit.releasing.core.workspace import Workspace

STEPS = ("version", "build", "check", "test", "publish", "tag")
TAG_ONLY = ("tag",)
Action = Literal["release", "skip"]
IndexState = Literal["complete", "partial", "absent", "unknown"]


@dataclass(frozen=True)
class PackageFacts:
    """What the edges found out about one package (normalized name)."""

    current: str | None  # None when the version could not be read (e.g. from VCS)
    released: frozenset[Version] | None  # versions with any file on the index; None if not asked
    last_tag: ReleaseTag | None = None
    changed_files: tuple[str, ...] | None = None  # since last_tag; None without a tag
    commit_messages: tuple[str, ...] = ()
    # Versions with both an sdist and a wheel on the index (None: take ``released``); a
    # version in ``released`` but not here was left half-uploaded by an interrupted run.
    complete: frozenset[Version] | None = None
    # Versions with a release tag in this history (None: only ``last_tag``'s).
    tagged: frozenset[Version] | None = None
    # The version comes from git tags (setuptools-scm, hatch-vcs, uv-dynamic-versioning):
    # ``current`` is the last tag's version, and releasing writes no file.
    vcs: bool = False

    def state(self, version: Version) -> IndexState:
        """Where ``version`` stands on the index."""
        if self.released is None:
            return "unknown"
        complete = self.released if self.complete is None else self.complete
        if version in complete:
            return "complete"
        return "partial" if version in self.released else "absent"

    def is_tagged(self, version: Version) -> bool:
        if self.tagged is not None:
            return version in self.tagged
        return self.last_tag is not None and self.last_tag.version == version

    @property
    def base(self) -> Version | None:
        """What the next version grows from: the file's version or the last tag's, the
        higher (a run that did not commit its version change leaves the file behind)."""
        if self.current is None:
            return Version("0.0.0") if self.vcs else None
        current = parse_version(self.current)
        if self.last_tag is not None and self.last_tag.version > current:
            return self.last_tag.version
        return current


@dataclass(frozen=True)
class PlanOptions:
    strategy: Literal["manual", "bump", "conventional"] = "manual"
    bump: BumpPart | None = None
    dev_build: int | None = None  # CI build number for X.Y.Z.devN releases
    only: tuple[str, ...] = ()  # restrict to these packages (normalized), plus what they need
    final: bool = False  # end pre-release series: 1.2.3rc1 -> patch 1.2.3 (else 1.2.3rc2)


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


NOT_SELECTED = "not selected"  # the reason of a package left out by naming others


# How the JSON plan names edge kinds: "extra" is what pyproject.toml calls them.
_EDGE_KINDS = {"runtime": "runtime", "optional": "extra", "group": "group"}


@dataclass(frozen=True)
class PlanEdge:
    """``dependent`` needs ``dependency``: runtime, through an extra, or a dependency group."""

    dependent: str
    dependency: str
    kind: str  # runtime | extra | group
    via: str | None
    requirement: str

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.dependent, "to": self.dependency, "kind": self.kind,
                "via": self.via, "requirement": self.requirement}  # fmt: skip


@dataclass(frozen=True)
class ReleasePlan:
    entries: tuple[PlanEntry, ...]  # in release (topological) order
    warnings: tuple[str, ...] = field(default=())
    edges: tuple[PlanEdge, ...] = field(default=())
    # How the order was made: extra and group edges dropped because they close a cycle.
    notes: tuple[str, ...] = field(default=())

    @property
    def releases(self) -> tuple[PlanEntry, ...]:
        return tuple(entry for entry in self.entries if entry.action == "release")

    def selected(self) -> ReleasePlan:
        """The entries of the packages asked for and of those they need, without the others
        (all of them when none was named)."""
        return replace(self, entries=tuple(e for e in self.entries if e.reason != NOT_SELECTED))

    def entry(self, name: str) -> PlanEntry:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise UsageError(f"{name!r} is not in the plan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "packages": [entry.to_dict() for entry in self.entries],
            "edges": [edge.to_dict() for edge in self.edges],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
        }


def _changed(facts: PackageFacts) -> bool:
    return facts.last_tag is None or bool(facts.changed_files)


def _change_reason(facts: PackageFacts) -> str:
    if facts.last_tag is None:
        return "never released from this history (no release tag)"
    count = len(facts.changed_files or ())
    return f"{count} file(s) changed since {facts.last_tag.tag}"


@dataclass(frozen=True)
class _Decision:
    next: str | None  # None: skip
    reason: str
    steps: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def _skip(reason: str, *warnings: str) -> _Decision:
    return _Decision(None, reason, (), warnings)


def _release(facts: PackageFacts, target: Version, reason: str, tag: bool = True) -> _Decision:
    """Release ``target``, or finish it where an earlier run stopped: an interrupted release
    is completed, never re-numbered, so a re-run uploads nothing twice and misses no tag."""
    state = facts.state(target)
    if state == "complete":
        if not tag or facts.is_tagged(target):
            return _skip(f"{target} is already on the index")
        return _Decision(str(target), f"{target} is on the index but not tagged yet", TAG_ONLY)
    if state == "partial":
        reason = f"{target} is only partly on the index: finishing it"
    steps = STEPS if str(target) != facts.current and not facts.vcs else STEPS[1:]
    if facts.is_tagged(target):
        tag = False  # tagged already (a version from git tags is released from its tag)
    return _Decision(str(target), reason, steps if tag else steps[:-1])


def _pending(facts: PackageFacts, current: Version) -> bool:
    """The file names a version newer than every release tag that was never finished: set
    by hand, or by a run that stopped before tagging it."""
    if facts.is_tagged(current):
        return False
    return facts.last_tag is None or current > facts.last_tag.version


def _decide(name: str, facts: PackageFacts, options: PlanOptions, affected: set[str]) -> _Decision:
    """The next version (None: skip), the reason, the steps and warnings, for one package,
    from its own changes; what its dependencies' releases require comes later."""
    if facts.vcs and facts.current is None and options.strategy == "manual" and (
        options.dev_build is None
    ):
        return _skip("its version comes from git tags and it has none yet: tag its first"
                     " release, or pass --bump")  # fmt: skip
    if facts.base is None:
        return _skip("its version is not readable; pubkit cannot release it")
    if options.dev_build is not None:
        if name not in affected:
            return _skip("unchanged since its last release")
        target = dev_version(facts.base, options.dev_build)
        return _release(facts, target, "dev build of a changed package", tag=False)
    if (
        facts.vcs
        and options.strategy == "manual"
        and facts.last_tag is not None
        and facts.changed_files
        and facts.state(facts.base) != "complete"
    ):
        return _skip(
            f"{len(facts.changed_files)} file(s) changed since {facts.last_tag.tag}, whose"
            " version comes from that tag: tag a new version, or pass --bump",
        )
    current = parse_version(facts.current) if facts.current is not None else facts.base
    if options.strategy == "manual":
        if facts.state(current) == "complete" and (
            facts.is_tagged(current) or not _pending(facts, current)
        ):
            warnings = []
            if facts.last_tag is not None and facts.changed_files:
                warnings.append(
                    f"{name}: {len(facts.changed_files)} file(s) changed since"
                    f" {facts.last_tag.tag} but {current} is already on the index; bump its"
                    " version to release the change"
                )
            return _skip(f"{current} is already on the index", *warnings)
        if facts.state(current) == "unknown":
            if facts.is_tagged(current):
                return _skip(f"{current} is tagged (the index was not asked)")
            return _release(facts, current, "the index was not asked (no index URL)")
        return _release(facts, current, f"{current} is not on the index yet")
    if facts.current is not None and _pending(facts, current):
        return _release(facts, current, f"{current} is set but not released yet")
    if not _changed(facts):
        return _skip("unchanged since its last release")
    if options.strategy == "bump":
        target = bump(facts.base, options.bump or "patch", final=options.final)
        return _release(facts, target, _change_reason(facts))
    proposed = next_version_conventional(facts.base, facts.commit_messages, final=options.final)
    if proposed is None:
        return _skip("no feat/fix/breaking commits since its last release")
    return _release(facts, proposed, _change_reason(facts))


def _smallest_bump(facts: PackageFacts, options: PlanOptions) -> Version:
    """What a package gets when only its dependencies moved: a patch (a pre-release stays
    one); in a dev build, the dev version."""
    assert facts.base is not None
    if options.dev_build is not None:
        return dev_version(facts.base, options.dev_build)
    return bump(facts.base, "patch", final=options.final)


def _follow_dependencies(
    workspace: Workspace,
    graph: DependencyGraph,
    name: str,
    decision: _Decision,
    facts: PackageFacts,
    options: PlanOptions,
    nexts: Mapping[str, str | None],
) -> _Decision:
    """``decision`` for a package that was not going to be released, revised for what its
    dependencies' new versions require: a patch when a requirement must be rewritten (an
    ``==`` pin, an upper bound), or whenever one is released with ``dependents = "always"``;
    nothing when its requirements already admit the new versions."""
    if decision.next is not None or facts.base is None:
        return decision
    changes = _requirement_changes(graph, name, nexts)
    if changes:
        pins = [c.dependency for c in changes if c.old.partition("==")[1] and "," not in c.new]
        what = ", ".join(c.dependency for c in changes)
        reason = (f"its pin on {', '.join(pins)} moves" if pins and len(pins) == len(changes)
                  else f"its requirement on {what} must admit the new version")  # fmt: skip
        return _release(facts, _smallest_bump(facts, options), reason,
                        tag=options.dev_build is None)  # fmt: skip
    released = sorted(
        edge.dependency
        for edge in graph.edges_from(name)
        if edge.kind in METADATA_KINDS and nexts.get(edge.dependency) is not None
    )
    if not released or (options.strategy == "manual" and options.dev_build is None):
        return decision  # manual: the versions in the files decide, and the reason stands
    if workspace.config.dependents == "always" and options.dev_build is None:
        return _release(facts, _smallest_bump(facts, options),
                        f"dependents = \"always\": {', '.join(released)} is released")  # fmt: skip
    admitted = ", ".join(f"{dep} {nexts[dep]}" for dep in dict.fromkeys(released))
    return _skip(f"its requirements admit {admitted}")


def _unify_groups(
    workspace: Workspace,
    decisions: dict[str, _Decision],
    facts: Mapping[str, PackageFacts],
    selected: set[str],
) -> bool:
    """Give every member of a lockstep group that releases the group's one version (the
    highest any member gets); True when a decision changed."""
    changed = False
    for group in sorted({g for g in map(workspace.group_of, workspace.names) if g}):
        members = [m for m in workspace.group_members(group) if m in selected]
        targets = [Version(decisions[m].next) for m in members if decisions[m].next]  # type: ignore[arg-type]
        if not targets:
            continue
        version = max(targets)
        drivers = sorted(m for m in members if decisions[m].next == str(version))
        for member in members:
            if decisions[member].next == str(version):
                continue
            base = facts[member].base
            if base is not None and base > version:
                raise UsageError(
                    f"lockstep group {group!r} would release {version}, below {member}'s"
                    f" {base}; set every member to one version first"
                )
            reason = f"lockstep group {group!r} releases {version} ({', '.join(drivers)})"
            decision = _release(facts[member], version, reason,
                                tag=bool(decisions[drivers[0]].steps[-1:] == ("tag",)))  # fmt: skip
            if decision.next is None and decisions[member].next is None:
                continue  # already on the index at that version
            decisions[member] = decision
            changed = True
    return changed


def make_plan(
    workspace: Workspace, facts: Mapping[str, PackageFacts], options: PlanOptions
) -> ReleasePlan:
    """Decide the release of every package of ``workspace`` from the gathered ``facts``."""
    graph = DependencyGraph(workspace)
    order = graph.topological_order()
    if options.bump is not None and options.strategy == "manual":
        options = replace(options, strategy="bump")
    selected = set(order)
    if options.only:
        unknown = [name for name in options.only if name not in selected]
        if unknown:
            raise UsageError(f"unknown package(s): {', '.join(unknown)}; see `pubkit plan`")
        # A package is never released against an unreleased version of what it needs.
        selected = set(options.only).union(
            *(graph.dependencies_of(name, kinds=METADATA_KINDS) for name in options.only)
        )
        for name in list(selected):  # a lockstep group is released whole
            group = workspace.group_of(name)
            if group is not None:
                selected.update(workspace.group_members(group))
    changed = {name for name in order if _changed(facts[name])}
    affected = graph.affected(changed, kinds=METADATA_KINDS)
    decisions: dict[str, _Decision] = {}
    warnings: list[str] = []
    for name in order:
        if name not in selected:
            decisions[name] = _skip(NOT_SELECTED)
            continue
        decisions[name] = _decide(name, facts[name], options, affected)
        warnings.extend(decisions[name].warnings)
    # Dependents and lockstep groups feed each other: repeat until nothing moves.
    moving = True
    while moving:
        moving = _unify_groups(workspace, decisions, facts, selected)
        for name in order:
            if name not in selected:
                continue
            nexts = {n: d.next for n, d in decisions.items()}
            revised = _follow_dependencies(workspace, graph, name, decisions[name],
                                           facts[name], options, nexts)  # fmt: skip
            if revised != decisions[name]:
                decisions[name] = revised
                moving = moving or revised.next is not None
    nexts = {n: d.next for n, d in decisions.items()}
    entries = []
    for name in order:
        package = workspace.package(name)
        decision = decisions[name]
        changes = _requirement_changes(graph, name, nexts)
        if decision.steps == TAG_ONLY or decision.next is None:
            changes = []  # what was published stands; tagging changes no file
        if changes and "version" not in decision.steps:
            decision = replace(decision, steps=("version", *decision.steps))
        entries.append(
            PlanEntry(
                name=name,
                path=str(package.path),
                current=facts[name].current,
                next=decision.next,
                action="release" if decision.next is not None else "skip",
                reason=decision.reason,
                steps=decision.steps,
                requirement_changes=tuple(changes),
            )
        )
    edges = tuple(
        PlanEdge(e.dependent, e.dependency, _EDGE_KINDS.get(e.kind, e.kind), e.via,
                 format_requirement(e.requirement))
        for e in graph.edges
    )  # fmt: skip
    return ReleasePlan(tuple(entries), tuple(warnings), edges, graph.notes())


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
