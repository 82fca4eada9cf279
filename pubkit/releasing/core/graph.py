"""The internal dependency graph of a workspace: release order, cycles, the affected set.

Pure. Nodes are normalized package names. An edge A -> B means "A needs B": A names B in a
requirement. Three kinds of edge, all kept, each with the requirement that made it:

- ``runtime``: ``[project] dependencies``;
- ``optional``: ``[project.optional-dependencies]`` (``via`` is the extra);
- ``group``: ``[dependency-groups]`` (``via`` is the group), typically test requirements.

All three define the order: B is built (and released) before A, because A's test step
installs A with its test extra or group, so B must already be in the local dist directory
or on the index. Markers are ignored (an edge counts even when its marker is false here):
the order must hold for every environment that installs A.

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
from pubkit.releasing.core.workspace import Package, Workspace, unknown_package_message

EdgeKind = Literal["runtime", "optional", "group"]
ALL_KINDS: frozenset[EdgeKind] = frozenset({"runtime", "optional", "group"})
# The kinds that end up in a built distribution's metadata (Requires-Dist); groups do not.
METADATA_KINDS: frozenset[EdgeKind] = frozenset({"runtime", "optional"})


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
    return found


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

    def _adjacent(self, kinds: Collection[EdgeKind], *, forward: bool) -> dict[str, set[str]]:
        """name -> its dependencies (forward) or its dependents, through edges of ``kinds``."""
        adjacent: dict[str, set[str]] = {name: set() for name in self._packages}
        for edge in self._edges:
            if edge.kind in kinds:
                if forward:
                    adjacent[edge.dependent].add(edge.dependency)
                else:
                    adjacent[edge.dependency].add(edge.dependent)
        return adjacent

    def _reach(
        self, starts: Iterable[str], kinds: Collection[EdgeKind], *, forward: bool, transitive: bool
    ) -> set[str]:
        adjacent = self._adjacent(kinds, forward=forward)
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
        self, name: str, *, transitive: bool = True, kinds: Collection[EdgeKind] = ALL_KINDS
    ) -> set[str]:
        """The internal packages ``name`` needs (directly, or through others too)."""
        start = self._name(name)
        return self._reach([start], kinds, forward=True, transitive=transitive) - {start}

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
        needs = self._adjacent(ALL_KINDS, forward=True)
        needed_by = self._adjacent(ALL_KINDS, forward=False)
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
        needs = self._adjacent(ALL_KINDS, forward=True)
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
        hops = list(zip(cycle, [*cycle[1:], cycle[0]], strict=True))
        # Name the edges that are not plain runtime ones: they are often the easiest to cut.
        notes = [
            self._hop_edge(a, b).describe()
            for a, b in hops
            if self._hop_edge(a, b).kind != "runtime"
        ]
        detail = f" [{'; '.join(notes)}]" if notes else ""
        raise ConfigurationError(
            f"dependency cycle: {' -> '.join([*cycle, cycle[0]])}{detail}; break it by removing "
            "one of these requirements or moving what they share into a package both depend on"
        )

    def _hop_edge(self, dependent: str, dependency: str) -> Edge:
        """The strongest edge between two packages: runtime before optional before group."""
        return next(
            e for e in self._edges if (e.dependent, e.dependency) == (dependent, dependency)
        )
