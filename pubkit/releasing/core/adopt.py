"""``pubkit init --adopt``: which tag format each package's existing release tags follow. Pure.

Each package is tried against the usual spellings (``{name}-v{version}``, ``{name}=={version}``,
``{name}/v{version}``, a bare ``v{version}`` or ``{version}``, and its name without the prefix
its siblings share: ``langgraph-checkpoint`` tags ``checkpoint==4.2.0``). A tag counts for a
format only when the format writes exactly that tag back, so ``v1.2`` is never taken for a
bare ``{version}``. The format that explains most tags wins.

The result: the workspace's ``tag-format`` (the one most packages follow), ``tag-formats``
for the packages that differ, and one lockstep group for packages that share tags without
a name (``v1.44.0`` for the whole repository).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from packaging.version import Version

from pubkit.releasing.core.versioning import DEFAULT_TAG_FORMAT, TagFormat

_NAMED = (
    "{name}-v{version}",
    "{name}-{version}",
    "{name}=={version}",
    "{name}/v{version}",
    "{name}/{version}",
    "{name}@{version}",
    "{name}@v{version}",
    "{name}_v{version}",
)
_SEPARATORS = ("==", "-v", "-", "/v", "/", "@", "@v", "_v")
_NAMELESS = ("v{version}", "{version}")
ADOPTED_GROUP = "all"


def _stem(names: Sequence[str]) -> str:
    """The ``prefix-`` all names share, ending at a dash (``langgraph-``), or ``""``."""
    if len(names) < 2:
        return ""
    first, *rest = [f"{name}-" for name in names]
    length = 0
    while all(length < len(other) for other in rest) and length < len(first) and all(
        other[length] == first[length] for other in rest
    ):
        length += 1
    prefix = first[:length]
    return prefix[: prefix.rfind("-") + 1]


def _shorts(name: str, names: Sequence[str], stem: str) -> list[str]:
    """``name`` without the stem all names share, or without another package's name
    (``sqlfluff-templater`` -> ``templater`` beside ``sqlfluff``)."""
    found = [name[len(stem) :]] if stem and name.startswith(stem) else []
    found += [name[len(other) + 1 :] for other in names if name.startswith(f"{other}-")]
    return [short for short in dict.fromkeys(found) if short]


def _candidates(name: str, shorts: Sequence[str]) -> list[tuple[str, str]]:
    """(format, the name it is rendered with) to try for one package, in preference order:
    the usual spellings with ``{name}``, then with its short names."""
    found = [(fmt, name) for fmt in _NAMED]
    for short in shorts:
        found += [(f"{short}{separator}{{version}}", name) for separator in _SEPARATORS]
    return found


def _explained(fmt: str, name: str, tags: Sequence[str]) -> list[str]:
    """The tags ``fmt`` writes for ``name``, newest version first."""
    tag_format = TagFormat(fmt)
    matched: list[tuple[Version, str]] = []
    for tag in tags:
        parsed = tag_format.parse(tag, name)
        if (
            parsed is not None
            and not parsed.version.local
            and tag_format.render(name, parsed.version) == tag
        ):
            matched.append((parsed.version, tag))
    return [tag for _, tag in sorted(matched, reverse=True)]


@dataclass(frozen=True)
class Adoption:
    """What ``--adopt`` found: the tags of each package and the config that reads them."""

    tag_format: str
    tag_formats: dict[str, str] = field(default_factory=dict)
    group: tuple[str, ...] = ()  # packages that share name-less tags: one lockstep group
    group_format: str | None = None
    matched: dict[str, tuple[str, ...]] = field(default_factory=dict)  # package -> its tags
    unmatched: tuple[str, ...] = ()


def _best(
    name: str, candidates: Sequence[tuple[str, str]], tags: Sequence[str]
) -> tuple[str, tuple[str, ...]] | None:
    winner: tuple[int, str, tuple[str, ...]] | None = None
    for fmt, rendered in candidates:
        matched = tuple(_explained(fmt, rendered, tags))
        if matched and (winner is None or len(matched) > winner[0]):
            winner = (len(matched), fmt, matched)
    return (winner[1], winner[2]) if winner is not None else None


def adopt_tags(
    names: Sequence[str], tags: Sequence[str], primary: str | None = None
) -> Adoption:
    """The tag formats that explain ``tags`` for the packages ``names`` (normalized).

    Tags with a name go to their package first. Tags without one (``v1.44.0``) then go to
    one of the packages that have no other tags: ``primary`` (the root package), or the one
    whose name starts the others' (``langgraph`` among ``langgraph-*``), or the only one
    left; else to all of them as one lockstep group.
    """
    ordered = sorted(names)
    stem = _stem(ordered)
    best: dict[str, tuple[str, tuple[str, ...]]] = {}
    for name in ordered:
        found = _best(name, _candidates(name, _shorts(name, ordered, stem)), tags)
        if found is not None:
            best[name] = found
    taken = {tag for _, matched in best.values() for tag in matched}
    rest = [tag for tag in tags if tag not in taken]
    left = [name for name in ordered if name not in best]
    nameless = _best(left[0], [(fmt, left[0]) for fmt in _NAMELESS], rest) if left else None
    group: tuple[str, ...] = ()
    group_format = None
    if nameless is not None:
        prefixes = [n for n in left if any(o.startswith(f"{n}-") for o in ordered)]
        owners = [primary] if primary in left else prefixes if len(prefixes) == 1 else left
        if len(owners) == 1:
            best[owners[0]] = nameless
        else:
            group, group_format = tuple(owners), nameless[0]
            for name in owners:
                best[name] = nameless
    named = Counter(fmt for fmt, _ in best.values() if TagFormat(fmt).has_name)
    default = named.most_common(1)[0][0] if named else DEFAULT_TAG_FORMAT
    if not named and group and len(group) == len(ordered):
        default = group_format or DEFAULT_TAG_FORMAT
    overrides = {
        name: fmt
        for name, (fmt, _) in sorted(best.items())
        if fmt != default and name not in group
    }
    matched = {name: tags_ for name, (_, tags_) in sorted(best.items())}
    explained = {tag for tags_ in matched.values() for tag in tags_}
    return Adoption(
        tag_format=default,
        tag_formats=overrides,
        group=group,
        group_format=group_format,
        matched=matched,
        unmatched=tuple(sorted(set(tags) - explained)),
    )
