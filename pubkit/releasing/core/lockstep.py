"""Lockstep groups and per-package tag formats: which tag marks a package's releases. Pure.

A lockstep group (``[[tool.pubkit.group]]``) is a set of packages released together at one
version under one tag: when any member changes, every member is released, all at the highest
version any of them would get. Its tag is the group's ``tag-format`` (default: the workspace's)
rendered with the group's name, so ``{name}-v{version}`` gives ``otel-v1.45.0`` and a group
with ``tag-format = "v{version}"`` gives ``v1.45.0``.

``[tool.pubkit.tag-formats]`` maps a package to a tag format of its own, for histories that
spell tags differently per package (``checkpoint=={version}``, a bare ``{version}``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pubkit.core.distributions import is_valid_project_name, normalize_name
from pubkit.errors import ConfigurationError
from pubkit.releasing.core.versioning import TagFormat


@dataclass(frozen=True)
class LockstepGroup:
    """A group as configured: ``members`` are names or globs over normalized names."""

    name: str
    members: tuple[str, ...]
    tag_format: str | None = None

    def matches(self, package: str) -> bool:
        normalized = normalize_name(package)
        return any(fnmatch.fnmatchcase(normalized, normalize_pattern(m)) for m in self.members)


def normalize_pattern(pattern: str) -> str:
    """A member pattern in the spelling of normalized names (``Acme_*`` -> ``acme-*``)."""
    return "".join(
        normalize_name(part) if part and part not in "*?" else part
        for part in _split_wildcards(pattern)
    )


def _split_wildcards(pattern: str) -> list[str]:
    parts: list[str] = []
    current = ""
    for char in pattern:
        if char in "*?":
            if current:
                parts.append(current)
            parts.append(char)
            current = ""
        else:
            current += char
    if current:
        parts.append(current)
    return parts


def _checked_format(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f'{what} must be a string; e.g. tag-format = "v{{version}}"')
    try:
        TagFormat(value)
    except ConfigurationError as error:
        raise ConfigurationError(f"{what}: {error.message}") from None
    return value


def parse_groups(value: object, what: str) -> tuple[LockstepGroup, ...]:
    """``[[tool.pubkit.group]]`` entries: each a table with ``name``, ``members`` and an
    optional ``tag-format``."""
    example = '[[tool.pubkit.group]] name = "otel", members = ["opentelemetry-*"]'
    if not isinstance(value, list | tuple) or not all(isinstance(v, Mapping) for v in value):
        raise ConfigurationError(f"{what} must be an array of tables; e.g. {example}")
    groups: list[LockstepGroup] = []
    for index, table in enumerate(value):
        where = f"{what} #{index + 1}"
        unknown = sorted(set(table) - {"name", "members", "tag-format"})
        if unknown:
            raise ConfigurationError(
                f"{where} has unknown key(s) {', '.join(unknown)}; use name, members, tag-format"
            )
        name = table.get("name")
        if not isinstance(name, str) or not is_valid_project_name(name):
            raise ConfigurationError(
                f"{where} needs a name made of letters, digits and . _ -; e.g. {example}"
            )
        members = table.get("members")
        if (
            not isinstance(members, list | tuple)
            or not members
            or not all(isinstance(m, str) and m.strip() for m in members)
        ):
            raise ConfigurationError(f"{where} members must be a non-empty array of package names")
        fmt = table.get("tag-format")
        groups.append(
            LockstepGroup(
                normalize_name(name),
                tuple(members),
                _checked_format(fmt, f"{where} tag-format") if fmt is not None else None,
            )
        )
    names = [g.name for g in groups]
    for name in names:
        if names.count(name) > 1:
            raise ConfigurationError(f"{what} names group {name!r} twice; merge them")
    return tuple(groups)


def parse_tag_formats(value: object, what: str) -> tuple[tuple[str, str], ...]:
    """``[tool.pubkit.tag-formats]``: package name -> tag format, normalized and sorted."""
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f'{what} must be a table; e.g. tag-formats = {{langgraph-checkpoint = '
            f'"checkpoint=={{version}}"}}'
        )
    found: dict[str, str] = {}
    for name, fmt in value.items():
        found[normalize_name(name)] = _checked_format(fmt, f"{what} {name}")
    return tuple(sorted(found.items()))


@dataclass(frozen=True)
class TagSpec:
    """How one package's releases are tagged: the format and the name put into it."""

    format: str
    name: str  # the package's normalized name, or its group's name
    group: str | None = None

    def render(self, version: str) -> str:
        return TagFormat(self.format).render(self.name, version)


def resolve(
    packages: Sequence[str],
    groups: Sequence[LockstepGroup],
    tag_formats: Mapping[str, str],
    default_format: str,
) -> tuple[dict[str, str], dict[str, TagSpec]]:
    """(package -> its group, package -> its TagSpec) for normalized ``packages``.

    ConfigurationError when a group matches nothing, a package is in two groups, a
    tag-formats entry names no package, or two packages outside one group would write the
    same tags (a format without ``{name}``).
    """
    known = set(packages)
    membership: dict[str, str] = {}
    for group in groups:
        matched = [p for p in packages if group.matches(p)]
        if not matched:
            raise ConfigurationError(
                f"group {group.name!r} members {list(group.members)} match no package; "
                f"known packages: {', '.join(sorted(known))}"
            )
        for package in matched:
            if package in membership:
                raise ConfigurationError(
                    f"{package} is in groups {membership[package]!r} and {group.name!r}; "
                    "a package belongs to one group at most"
                )
            membership[package] = group.name
    for name in tag_formats:
        if name not in known:
            raise ConfigurationError(
                f"tag-formats names {name!r}, which is not a package of the workspace"
            )
    by_name = {g.name: g for g in groups}
    specs: dict[str, TagSpec] = {}
    for package in packages:
        group_name = membership.get(package)
        if group_name is not None:
            fmt = by_name[group_name].tag_format or default_format
            specs[package] = TagSpec(fmt, group_name, group_name)
        else:
            specs[package] = TagSpec(tag_formats.get(package, default_format), package)
    # Two release units must never write the same tag.
    writers: dict[str, set[str]] = {}
    for spec in specs.values():
        if not TagFormat(spec.format).has_name:
            writers.setdefault(spec.format, set()).add(spec.group or spec.name)
    for fmt, units in writers.items():
        if len(units) > 1:
            raise ConfigurationError(
                f"tag-format {fmt!r} has no {{name}} but {len(units)} packages or groups use it "
                f"({', '.join(sorted(units))}); add {{name}}, e.g. {{name}}-v{{version}}, or put "
                "them in one [[tool.pubkit.group]]"
            )
    return membership, specs
