"""Retention of CI builds: which releases ``pubkit index prune`` removes (pure).

A policy names the kinds of release it may remove (dev releases always; pre-releases and
final releases only when asked), how many of the newest of those to keep per project, and
optionally a minimum age. A release is removed when it is of a kind the policy covers, is
not among the ``keep`` newest of that kind in its project (PEP 440 order), is older than
``older_than`` when that is given, and is not pinned by a release that stays.

Pinned releases stay: ``pubkit release --dev`` builds pin the dev builds of their internal
dependencies (``acme-text==1.3.0.dev7`` needs ``acme-core==2.0.0.dev7``). Removing a
release that a kept one pins exactly would leave a kept build that no installer can
install, which defeats keeping it. The pins are read from the kept releases' core metadata
(``Requires-Dist`` with ``==`` or ``===`` on a project of this index).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from pubkit.core.distributions import normalize_name
from pubkit.errors import UsageError

KINDS = ("dev", "pre", "final")


@dataclass(frozen=True)
class RetentionPolicy:
    keep: int = 10  # newest releases of each covered kind kept per project
    older_than: timedelta | None = None  # and only releases at least this old go
    kinds: frozenset[str] = frozenset({"dev"})
    projects: frozenset[str] = frozenset()  # normalized names; empty: every project

    def __post_init__(self) -> None:
        if self.keep < 0:
            raise UsageError("--keep must be 0 or more")
        unknown = self.kinds - set(KINDS)
        if unknown or not self.kinds:
            raise UsageError(f"release kinds are {', '.join(KINDS)}, not {sorted(unknown)}")


@dataclass(frozen=True)
class Release:
    """One release of a project as the catalog lists it."""

    project: str  # normalized
    version: str
    uploaded: datetime  # the newest upload time of its files
    requires: tuple[str, ...] = ()  # Requires-Dist lines (of its wheel), for pins


@dataclass(frozen=True)
class PrunePlan:
    remove: tuple[Release, ...]
    # (release kept although the policy would remove it, the kept release that pins it)
    pinned: tuple[tuple[Release, Release], ...] = ()
    kept: int = 0  # releases of covered kinds that stay

    def by_project(self) -> dict[str, list[Release]]:
        grouped: dict[str, list[Release]] = defaultdict(list)
        for release in self.remove:
            grouped[release.project].append(release)
        return dict(grouped)


def kind_of(version: Version) -> str:
    if version.is_devrelease:
        return "dev"
    if version.is_prerelease:
        return "pre"
    return "final"


def plan_prune(
    releases: Iterable[Release], policy: RetentionPolicy, now: datetime
) -> PrunePlan:
    """Which releases the policy removes, and which it keeps because a kept one pins them."""
    everything = list(releases)
    candidates: dict[tuple[str, str], list[tuple[Version, Release]]] = defaultdict(list)
    for release in everything:
        if policy.projects and release.project not in policy.projects:
            continue
        try:
            version = Version(release.version)
        except InvalidVersion:
            continue  # not PEP 440: never ordered, never removed
        kind = kind_of(version)
        if kind in policy.kinds:
            candidates[(release.project, kind)].append((version, release))
    doomed: dict[tuple[str, Version], Release] = {}
    for group in candidates.values():
        group.sort(key=lambda item: (item[0], item[1].uploaded), reverse=True)
        for version, release in group[policy.keep:]:
            if policy.older_than is None or now - release.uploaded >= policy.older_than:
                doomed[(release.project, version)] = release
    pinned = _pinned(everything, doomed)
    kept_because_pinned = tuple(
        (doomed.pop(key), holder) for key, holder in pinned.items() if key in doomed
    )
    covered = sum(len(group) for group in candidates.values())
    remove = tuple(sorted(doomed.values(), key=lambda r: (r.project, Version(r.version))))
    return PrunePlan(remove, kept_because_pinned, covered - len(remove))


def _pinned(
    everything: list[Release], doomed: Mapping[tuple[str, Version], Release]
) -> dict[tuple[str, Version], Release]:
    """Doomed releases that a release which stays pins exactly, with the pinning one.

    Removal can only free more pins, never add: a release kept for its pin may itself pin
    another, so this repeats until nothing changes."""
    remaining = dict(doomed)
    found: dict[tuple[str, Version], Release] = {}
    changed = True
    while changed:
        changed = False
        for release in everything:
            key = _key(release)
            if key is None or key in remaining:
                continue
            for pin in _exact_pins(release.requires):
                if pin in remaining:
                    found[pin] = release
                    del remaining[pin]
                    changed = True
    return found


def _key(release: Release) -> tuple[str, Version] | None:
    try:
        return (release.project, Version(release.version))
    except InvalidVersion:
        return None


_EXACT = re.compile(r"^===?$")


def _exact_pins(requires: Iterable[str]) -> Iterable[tuple[str, Version]]:
    for line in requires:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        for spec in requirement.specifier:
            if _EXACT.match(spec.operator) and "*" not in spec.version:
                try:
                    yield (normalize_name(requirement.name), Version(spec.version))
                except InvalidVersion:
                    continue


@dataclass(frozen=True)
class PruneResult:
    """What a prune removed (or, dry, would remove): the answer of every front end."""

    removed: tuple[tuple[str, str, int], ...]  # (project, version, files)
    pinned: tuple[tuple[str, str, str], ...]  # (project, version, "project version" pinning it)
    kept: int
    dry_run: bool

    def to_json(self) -> dict[str, object]:
        return {
            "removed": [{"project": p, "version": v, "files": n} for p, v, n in self.removed],
            "pinned": [{"project": p, "version": v, "pinned_by": by} for p, v, by in self.pinned],
            "kept": self.kept,
            "dry_run": self.dry_run,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> PruneResult:
        removed = data.get("removed")
        pinned = data.get("pinned")
        if not isinstance(removed, list) or not isinstance(pinned, list):
            raise ValueError("a prune result lists removed and pinned releases")
        return cls(
            tuple((str(r["project"]), str(r["version"]), int(r["files"])) for r in removed),
            tuple((str(r["project"]), str(r["version"]), str(r["pinned_by"])) for r in pinned),
            int(str(data.get("kept", 0))),
            bool(data.get("dry_run")),
        )
