"""The internal dependency graph of a workspace: release order, cycles, the affected set.

Pure. Nodes are normalized package names. An edge A -> B means "A needs B": A names B in a
requirement. Three kinds of edge, all kept, each with the requirement that made it:

- ``runtime``: ``[project] dependencies``;
- ``optional``: ``[project.optional-dependencies]`` (``via`` is the extra);
- ``group``: ``[dependency-groups]`` and poetry's ``[tool.poetry.group.NAME.dependencies]``
  (``via`` is the group), typically test requirements.

All three define the order when they can: B is built (and released) before A, so that A's
test step installs the B this release builds. Only a cycle of runtime edges is an error. An
edge through an extra or a group that would close a cycle is *dropped* from the order (see
:attr:`DependencyGraph.dropped`), optional edges kept before group edges: A's tests then
use the B already on the index. Markers are ignored (an edge counts even when its marker is
false here): the order must hold for every environment that installs A.

A package that names *itself* in an extra or a group (``all = ["acme-core[aws,kafka]"]``)
is the standard way to combine extras, not a cycle: no edge. Naming itself in its runtime
dependencies is a cycle.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from pubkit.core.distributions import normalize_name
from pubkit.errors import ConfigurationError, UsageError
from pubkit.releasing.core.versioning import format_requirement
from pubkit.releasing.core.workspace import Package, Workspace, unknown_package_message

EdgeKind = Literal["runtime", "optional", "group"]
ALL_KINDS: frozenset[EdgeKind] = frozenset({"runtime", "optional", "group"})
# The kinds that end up in a built distribution's metadata (Requires-Dist); groups do not.
METADATA_KINDS: frozenset[EdgeKind] = frozenset({"runtime", "optional"})
REQUIREMENTS_FILES = "test requirements files"  # the ``via`` of their group edges


@dataclass(frozen=True)
class Edge:
    """``dependent`` needs ``dependency`` through ``requirement`` (normalized names)."""

    dependent: str
    dependency: str
    kind: EdgeKind
    requirement: Requirement
    via: str | None = None  # the extra or the dependency group

    @property
    def specifier(self) -> SpecifierSet:
        return self.requirement.specifier

    def allows(self, version: str | Version, *, prereleases: bool = True) -> bool:
        """Whether ``version`` of the dependency satisfies the dependent's requirement.

        Pre-releases and dev builds count as inside a range by default: a ``1.3.0.dev4`` of
        the dependency is meant for its dependents' ``>=1.2``.
        """
        return self.specifier.contains(version, prereleases=prereleases)

    def describe(self) -> str:
        """``a -> b`` with how, for messages: ``a -> b (extra 'aws')``."""
        arrow = f"{self.dependent} -> {self.dependency}"
        if self.kind == "optional":
            return f"{arrow} (extra {self.via!r})"
        if self.kind == "group" and self.via == REQUIREMENTS_FILES:
            return f"{arrow} (test requirements files)"
        if self.kind == "group":
            return f"{arrow} (dependency group {self.via!r})"
        return arrow


def _package_edges(package: Package, internal: Collection[str]) -> list[Edge]:
    found: list[Edge] = []

    def add(requirements: Iterable[Requirement], kind: EdgeKind, via: str | None) -> None:
        for requirement in requirements:
            target = normalize_name(requirement.name)
            if target not in internal or (target == package.normalized and kind != "runtime"):
                continue
            found.append(Edge(package.normalized, target, kind, requirement, via))

    add(package.dependencies, "runtime", None)
    for extra, requirements in sorted(package.optional_dependencies.items()):
        add(requirements, "optional", extra)
    for group, requirements in sorted(package.dependency_groups.items()):
        add(requirements, "group", group)
    for group, requirements in sorted(package.poetry_groups.items()):
        add(requirements, "group", group)
    add(package.test_requirements, "group", REQUIREMENTS_FILES)
    return found


def _reaches(adjacent: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = {start}, [start]
    while todo:
        current = todo.pop()
        if current == goal:
            return True
        for neighbour in adjacent[current] - seen:
            seen.add(neighbour)
            todo.append(neighbour)
    return False


class DependencyGraph:
    """Who needs whom among the packages of one workspace.

    Every query takes and returns normalized names and accepts any spelling of a name;
    an unknown name raises UsageError. Results never include the name asked about.
    """

    def __init__(self, packages: Workspace | Iterable[Package]) -> None:
        members = packages.packages if isinstance(packages, Workspace) else tuple(packages)
        self._packages: dict[str, Package] = {}
        for package in sorted(members, key=lambda p: p.normalized):
            if package.normalized in self._packages:
                other = self._packages[package.normalized]
                raise ConfigurationError(
                    f"two packages are named {package.normalized!r}: {other.path} and "
                    f"{package.path}; rename one"
                )
            self._packages[package.normalized] = package
        self._edges = tuple(
            edge for p in self._packages.values() for edge in _package_edges(p, self._packages)
        )
        self._dropped = self._break_soft_cycles()

    def _break_soft_cycles(self) -> tuple[Edge, ...]:
        """The extra and group edges left out of the order because each would close a cycle:
        runtime edges first, then optional ones, then groups, each kept unless its dependency
        already (transitively) needs its dependent."""
        needs: dict[str, set[str]] = {name: set() for name in self._packages}
        dropped: list[Edge] = []
        for kind in ("runtime", "optional", "group"):
            for edge in self._edges:
                if edge.kind != kind or edge.dependency in needs[edge.dependent]:
                    continue
                if kind != "runtime" and _reaches(needs, edge.dependency, edge.dependent):
                    dropped.append(edge)
                    continue
                needs[edge.dependent].add(edge.dependency)
        return tuple(dropped)

    @property
    def dropped(self) -> tuple[Edge, ...]:
        """Extra and group edges that would close a cycle, so they do not order the work."""
        return self._dropped

    def notes(self) -> tuple[str, ...]:
        """One line per dropped edge, for the plan."""
        return tuple(
            f"{edge.describe()} closes a cycle, so it does not order the release:"
            f" {edge.dependent}'s tests use the {edge.dependency} already on the index"
            for edge in self._dropped
        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._packages)

    @property
    def edges(self) -> tuple[Edge, ...]:
        """Every edge, by dependent, then kind (runtime, optional, group), then as declared."""
        return self._edges

    def _name(self, name: str) -> str:
        normalized = normalize_name(name)
        if normalized not in self._packages:
            raise UsageError(unknown_package_message(name, self.names))
        return normalized

    def edges_from(self, name: str) -> tuple[Edge, ...]:
        """What ``name`` requires of other internal packages."""
        source = self._name(name)
        return tuple(e for e in self._edges if e.dependent == source)

    def edges_to(self, name: str) -> tuple[Edge, ...]:
        """What the other internal packages require of ``name``: check a new version here."""
        target = self._name(name)
        return tuple(e for e in self._edges if e.dependency == target)

    def _adjacent(
        self, kinds: Collection[EdgeKind], *, forward: bool, ordered: bool = False
    ) -> dict[str, set[str]]:
        """name -> its dependencies (forward) or its dependents, through edges of ``kinds``
        (only those that order the work, when ``ordered``)."""
        adjacent: dict[str, set[str]] = {name: set() for name in self._packages}
        for edge in self._edges:
            if edge.kind in kinds and not (ordered and edge in self._dropped):
                if forward:
                    adjacent[edge.dependent].add(edge.dependency)
                else:
                    adjacent[edge.dependency].add(edge.dependent)
        return adjacent

    def _reach(
        self, starts: Iterable[str], kinds: Collection[EdgeKind], *, forward: bool,
        transitive: bool, ordered: bool = False,
    ) -> set[str]:  # fmt: skip
        adjacent = self._adjacent(kinds, forward=forward, ordered=ordered)
        seen: set[str] = set()
        todo = [self._name(s) for s in starts]
        while todo:
            for neighbour in adjacent[todo.pop()]:
                if neighbour not in seen:
                    seen.add(neighbour)
                    if transitive:
                        todo.append(neighbour)
        return seen

    def dependencies_of(
        self, name: str, *, transitive: bool = True, kinds: Collection[EdgeKind] = ALL_KINDS,
        ordered: bool = False,
    ) -> set[str]:  # fmt: skip
        """The internal packages ``name`` needs (directly, or through others too); with
        ``ordered``, only through the edges that order the work (not the dropped ones)."""
        start = self._name(name)
        return self._reach([start], kinds, forward=True, transitive=transitive,
                           ordered=ordered) - {start}  # fmt: skip

    def dependents_of(
        self, name: str, *, transitive: bool = True, kinds: Collection[EdgeKind] = ALL_KINDS
    ) -> set[str]:
        """The internal packages that need ``name`` (directly, or through others too)."""
        start = self._name(name)
        return self._reach([start], kinds, forward=False, transitive=transitive) - {start}

    def affected(
        self, changed: Iterable[str], *, kinds: Collection[EdgeKind] = ALL_KINDS
    ) -> set[str]:
        """The changed packages plus everything that needs them, transitively.

        Pass ``kinds=METADATA_KINDS`` to leave out packages that need a changed one only in
        a dependency group (their tests), whose published metadata does not change.
        """
        names = {self._name(name) for name in changed}
        return names | self._reach(names, kinds, forward=False, transitive=True)

    def topological_order(self) -> list[str]:
        """Dependencies before dependents; among the ready ones, alphabetical (Kahn)."""
        needs = self._adjacent(ALL_KINDS, forward=True, ordered=True)
        needed_by = self._adjacent(ALL_KINDS, forward=False, ordered=True)
        waiting = {name: len(deps) for name, deps in needs.items()}
        ready = [name for name, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            name = heapq.heappop(ready)
            order.append(name)
            for dependent in needed_by[name]:
                waiting[dependent] -= 1
                if waiting[dependent] == 0:
                    heapq.heappush(ready, dependent)
        if len(order) < len(needs):
            self._raise_cycle(needs, set(needs) - set(order))
        return order

    def levels(self) -> list[set[str]]:
        """Groups that can be processed in parallel; each needs only earlier groups."""
        needs = self._adjacent(ALL_KINDS, forward=True, ordered=True)
        done: set[str] = set()
        result: list[set[str]] = []
        while len(done) < len(needs):
            level = {n for n, deps in needs.items() if n not in done and deps <= done}
            if not level:
                self._raise_cycle(needs, set(needs) - done)
            result.append(level)
            done |= level
        return result

    def _raise_cycle(self, needs: dict[str, set[str]], stuck: set[str]) -> None:
        # Every stuck package needs another stuck one (or it would not be stuck), so following
        # the alphabetically first such need from any of them must come back round.
        path: list[str] = []
        position: dict[str, int] = {}
        current = min(stuck)
        while current not in position:
            position[current] = len(path)
            path.append(current)
            current = min(needs[current] & stuck)
        cycle = path[position[current] :]
        first = cycle.index(min(cycle))  # start at the first name, for a stable message
        cycle = cycle[first:] + cycle[:first]
        cut = self._hop_edge(cycle[-1], cycle[0])
        raise ConfigurationError(
            f"dependency cycle of runtime requirements: {' -> '.join([*cycle, cycle[0]])};"
            f" cut one, e.g. remove {format_requirement(cut.requirement)!r} from"
            f" {cut.dependent}'s dependencies, or move what they share into a package both"
            " depend on"
        )

    def _hop_edge(self, dependent: str, dependency: str) -> Edge:
        """The strongest edge between two packages: runtime before optional before group."""
        return next(
            e for e in self._edges if (e.dependent, e.dependency) == (dependent, dependency)
        )
