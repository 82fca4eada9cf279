"""Versions of releases: PEP 440 bumps, dev builds, tag names, conventional commits and
the widening of internal requirements.

Everything here is pure: it takes versions, messages and tag names as values and returns
new values; git, files and the index are the pipeline's business.

The rules for the cases PEP 440 leaves open:

- ``major``/``minor``/``patch`` of a final (or post) release reset the lower parts and drop
  post and dev labels. The release segment keeps the length it was written with, trimmed to
  three parts and padded to the part being bumped: ``1.2`` -> minor ``1.3``, patch ``1.2.1``;
  ``1.2.3.4`` -> patch ``1.2.4``. A dev release of exactly the version the bump produces is
  that version: ``1.2.3.dev4`` -> patch ``1.2.3``.
- A pre-release stays a pre-release (a beta series is not ended by a fix in it): the bump
  advances it in its phase when it already heads for the bumped part (``0.66b0`` -> patch
  ``0.66b1``, ``2.0.0rc1`` -> major ``2.0.0rc2``) and otherwise starts that phase at 1 on the
  bumped release (``1.2.3rc1`` -> minor ``1.3.0rc1``); a dev build of a pre-release becomes
  that pre-release (``0.66b0.dev0`` -> patch ``0.66b0``). ``final=True`` (``--final``) ends
  the series instead: ``1.2.3rc1`` -> patch ``1.2.3``, minor ``1.3.0``.
- ``pre`` starts an ``rc1`` of the next patch (``1.2.3`` -> ``1.2.4rc1``), keeps counting the
  current phase (``1.2.4a3`` -> ``1.2.4a4``), turns ``X.devN`` into ``Xrc1`` and
  ``XrcN.devM`` into ``XrcN``.
- ``dev`` starts ``.dev1`` of the next patch (``1.2.3`` -> ``1.2.4.dev1``), keeps counting an
  existing dev number, and after a pre-release heads for the next one
  (``1.2.4rc1`` -> ``1.2.4rc2.dev1``).
- The epoch is always kept. A local version (``+label``) is refused: indexes reject them.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, NamedTuple, get_args

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import Specifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from pubkit.core.distributions import is_valid_project_name, normalize_name
from pubkit.errors import ConfigurationError, UsageError

__all__ = [
    "BUMP_PARTS",
    "DEFAULT_TAG_FORMAT",
    "BumpPart",
    "ConventionalCommit",
    "ParsedTag",
    "ReleasePart",
    "ReleaseTag",
    "TagFormat",
    "bump",
    "bump_for_commits",
    "dev_version",
    "format_requirement",
    "latest_release_tag",
    "next_version_conventional",
    "parse_conventional_commit",
    "parse_tag",
    "parse_version",
    "releasable",
    "satisfies",
    "tag_name",
    "widen_requirement",
]

BumpPart = Literal["major", "minor", "patch", "pre", "dev"]
ReleasePart = Literal["major", "minor", "patch"]
BUMP_PARTS: tuple[BumpPart, ...] = get_args(BumpPart)
_RELEASE_PARTS: tuple[ReleasePart, ...] = get_args(ReleasePart)

DEFAULT_TAG_FORMAT = "{name}-v{version}"

# The phase a new pre-release starts in. One phase keeps `--bump pre` predictable; a team
# that wants alphas writes `1.2.4a1` by hand and `pre` keeps counting from there.
_FIRST_PRE_PHASE = "rc"


# --------------------------------------------------------------------------- versions


def parse_version(value: str | Version) -> Version:
    """``value`` as a PEP 440 version; UsageError when it is not one."""
    if isinstance(value, Version):
        return value
    try:
        return Version(value)
    except (InvalidVersion, TypeError):
        raise UsageError(
            f"{value!r} is not a valid PEP 440 version; "
            "use a version such as 1.2.3, 1.2.3rc1, 1.2.3.post1 or 1.2.3.dev4"
        ) from None


def releasable(value: str | Version) -> Version:
    """A version that may be uploaded to an index: PEP 440 and without a local label."""
    version = parse_version(value)
    if version.local is not None:
        raise UsageError(
            f"'{version}' carries the local version label '+{version.local}', which package "
            f"indexes refuse; release '{version.public}' instead"
        )
    return version


def _make(
    epoch: int,
    release: Iterable[int],
    pre: tuple[str, int] | None = None,
    post: int | None = None,
    dev: int | None = None,
) -> Version:
    # Built from text: `Version.from_parts` and `__replace__` are newer than packaging 24.
    text = f"{epoch}!" if epoch else ""
    text += ".".join(str(part) for part in release)
    if pre is not None:
        text += f"{pre[0]}{pre[1]}"
    if post is not None:
        text += f".post{post}"
    if dev is not None:
        text += f".dev{dev}"
    return Version(text)


def _bump_release(version: Version, part: ReleasePart) -> Version:
    index = _RELEASE_PARTS.index(part)
    # Trim to three parts (anything past patch is reset by every bump, and dropping a zero
    # does not change the version), but never shorter than the part being bumped.
    length = max(min(len(version.release), 3), index + 1)
    release = [*version.release[:length], *[0] * (length - len(version.release))]
    # A pre/dev release *of* the target is finalised: 1.2.3rc1 is on its way to 1.2.3.
    final = _make(version.epoch, release)
    if not any(version.release[index + 1 :]) and final > version:
        return final
    release[index] += 1
    release[index + 1 :] = [0] * (length - index - 1)
    return _make(version.epoch, release)


def _next_pre(version: Version) -> tuple[str, int]:
    assert version.pre is not None
    return (version.pre[0], version.pre[1] + 1)


def _bump_pre_release(version: Version, part: ReleasePart) -> Version:
    """A release bump that keeps a pre-release a pre-release (see the module docstring)."""
    assert version.pre is not None
    if version.dev is not None and version.post is None:
        return _make(version.epoch, version.release, version.pre)  # 0.66b0.dev0 -> 0.66b0
    target = _bump_release(version, part)
    final = _make(version.epoch, version.release)
    if target == final:
        return _make(version.epoch, version.release, _next_pre(version))
    return _make(target.epoch, target.release, (version.pre[0], 1))


def bump(version: str | Version, part: BumpPart, *, final: bool = False) -> Version:
    """The next version after ``version`` for ``part``; always sorts after ``version``.

    The rules are in this module's docstring; ``final`` ends a pre-release series.
    """
    current = releasable(version)
    if part == "major" or part == "minor" or part == "patch":
        if current.pre is not None and not final:
            return _bump_pre_release(current, part)
        return _bump_release(current, part)
    if part == "pre":
        if current.pre is not None:
            if current.dev is not None and current.post is None:
                # 1.2.4rc1.dev3 were the builds leading to 1.2.4rc1.
                return _make(current.epoch, current.release, current.pre)
            return _make(current.epoch, current.release, _next_pre(current))
        if current.dev is not None and current.post is None:
            # 1.2.4.dev3 were heading for 1.2.4: its first pre-release comes next.
            return _make(current.epoch, current.release, (_FIRST_PRE_PHASE, 1))
        patch = _bump_release(current, "patch")
        return _make(patch.epoch, patch.release, (_FIRST_PRE_PHASE, 1))
    if part == "dev":
        if current.dev is not None:
            return _make(current.epoch, current.release, current.pre, current.post, current.dev + 1)
        if current.pre is not None:
            return _make(current.epoch, current.release, _next_pre(current), dev=1)
        patch = _bump_release(current, "patch")
        return _make(patch.epoch, patch.release, dev=1)
    raise UsageError(f"unknown version part {part!r}; use one of {', '.join(BUMP_PARTS)}")


def dev_version(base: str | Version, build_number: int) -> Version:
    """The version of a branch build: ``X.Y.Z.devN`` with N the CI build number.

    - ``base`` final or post: X.Y.Z is the next patch, so the build sorts after ``base`` and
      before the release it leads to (``1.2.3`` + 7 -> ``1.2.4.dev7``).
    - ``base`` a dev release: the tree already names its next release, so only the dev
      number is replaced (``1.2.4.dev0`` + 7 -> ``1.2.4.dev7``, ``2.0rc1.dev0`` -> ``2.0rc1.dev7``).
    - ``base`` a pre-release: builds head for the next one (``1.2.4rc1`` -> ``1.2.4rc2.dev7``).
    """
    if isinstance(build_number, bool) or not isinstance(build_number, int) or build_number < 0:
        raise UsageError(
            f"the build number must be a whole number of 0 or more, not {build_number!r}; "
            "pass the CI build number (e.g. $BUILD_NUMBER or $CIRCLE_BUILD_NUM)"
        )
    current = releasable(base)
    if current.dev is not None:
        return _make(current.epoch, current.release, current.pre, current.post, build_number)
    if current.pre is not None:
        return _make(current.epoch, current.release, _next_pre(current), dev=build_number)
    patch = _bump_release(current, "patch")
    return _make(patch.epoch, patch.release, dev=build_number)


# ------------------------------------------------------------------------------- tags


class ParsedTag(NamedTuple):
    name: str | None  # normalized; None when the format has no {name} (one-package repos)
    version: Version


class ReleaseTag(NamedTuple):
    tag: str
    version: Version


# What git refuses in a ref name (git check-ref-format), checked in the format's literal
# text so that a bad tag-format fails when it is read rather than at the first `git tag`.
_GIT_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{")
_FIELDS = ("name", "version")


@lru_cache(maxsize=64)
def _split_format(fmt: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(literals, fields) with ``len(literals) == len(fields) + 1``, or ConfigurationError."""
    literals: list[str] = []
    fields: list[str] = []
    pending = ""
    try:
        pieces = list(string.Formatter().parse(fmt))
    except ValueError as error:
        raise ConfigurationError(
            f"tag-format {fmt!r} is not a valid format ({error}); use e.g. {DEFAULT_TAG_FORMAT!r}"
        ) from None
    for literal, field, spec, conversion in pieces:
        pending += literal
        if field is None:
            continue
        if field not in _FIELDS or spec or conversion:
            raise ConfigurationError(
                f"tag-format {fmt!r} uses {{{field}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}}; only {{name}} and {{version}} are allowed, "
                f"e.g. {DEFAULT_TAG_FORMAT!r}"
            )
        if field in fields:
            raise ConfigurationError(
                f"tag-format {fmt!r} uses {{{field}}} twice; use it once, "
                f"e.g. {DEFAULT_TAG_FORMAT!r}"
            )
        literals.append(pending)
        fields.append(field)
        pending = ""
    literals.append(pending)
    if "version" not in fields:
        raise ConfigurationError(
            f"tag-format {fmt!r} has no {{version}}; add it, e.g. {DEFAULT_TAG_FORMAT!r}"
        )
    # Two adjacent fields could split a tag anywhere; a literal between them keeps
    # parsing meaningful.
    if len(fields) == 2 and not literals[1]:
        raise ConfigurationError(
            f"tag-format {fmt!r} puts {{name}} and {{version}} side by side; "
            f"separate them, e.g. {DEFAULT_TAG_FORMAT!r}"
        )
    for literal in literals:
        bad = _GIT_REF_FORBIDDEN.search(literal)
        if bad:
            raise ConfigurationError(
                f"tag-format {fmt!r} contains {bad.group()!r}, which git does not allow in "
                f"tag names; use e.g. {DEFAULT_TAG_FORMAT!r}"
            )
    return tuple(literals), tuple(fields)


@dataclass(frozen=True)
class TagFormat:
    """A tag-format such as ``{name}-v{version}``; validated when made."""

    template: str = DEFAULT_TAG_FORMAT

    def __post_init__(self) -> None:
        _split_format(self.template)

    @property
    def has_name(self) -> bool:
        return "name" in _split_format(self.template)[1]

    def render(self, name: str, version: str | Version) -> str:
        if not is_valid_project_name(name):
            raise UsageError(
                f"{name!r} is not a valid project name; use letters, digits and . _ - "
                "(starting and ending with a letter or digit)"
            )
        values = {"name": normalize_name(name), "version": str(releasable(version))}
        literals, fields = _split_format(self.template)
        return literals[0] + "".join(
            values[field] + literal for field, literal in zip(fields, literals[1:], strict=True)
        )

    def parse(self, tag: str, name: str | None = None) -> ParsedTag | None:
        """What ``tag`` says, or None when it does not fit the format or has no PEP 440
        version. With ``name``, only tags of that project (any spelling) match.

        The format's literal text decides where the name ends and the version starts, so
        ``acme-core-v1.0`` is ``acme-core`` 1.0 and never ``acme``. If several splits fit,
        the one whose version is written canonically wins (pubkit writes canonical
        versions), then the longest name.
        """
        literals, fields = _split_format(self.template)
        head, tail = literals[0], literals[-1]
        if len(tag) < len(head) + len(tail) or not tag.startswith(head) or not tag.endswith(tail):
            return None
        middle = tag[len(head) : len(tag) - len(tail)]
        splits: list[tuple[str, ...]]
        if len(fields) == 1:
            splits = [(middle,)]
        else:
            separator = literals[1]
            splits = []
            at = middle.find(separator)
            while at != -1:
                splits.append((middle[:at], middle[at + len(separator) :]))
                at = middle.find(separator, at + 1)
        wanted = normalize_name(name) if name is not None else None
        best: tuple[tuple[bool, int], ParsedTag] | None = None
        for split in splits:
            texts = dict(zip(fields, split, strict=True))
            name_text = texts.get("name")
            if name_text is not None and not is_valid_project_name(name_text):
                continue
            found = normalize_name(name_text) if name_text is not None else None
            if wanted is not None and found is not None and found != wanted:
                continue
            try:
                version = Version(texts["version"])
            except InvalidVersion:
                continue
            rank = (str(version) == texts["version"], len(name_text or ""))
            if best is None or rank > best[0]:
                best = (rank, ParsedTag(found, version))
        return best[1] if best is not None else None

    def latest(self, name: str, tags: Iterable[str]) -> ReleaseTag | None:
        """The tag of ``name``'s highest release among ``tags``, or None if it has none.

        Every tagged release counts, dev releases included: pubkit tags what it releases
        from a version in the files (``0.66b0.dev0`` too) and never tags ``--dev`` branch
        builds, so a dev tag marks a release and change detection diffs since it. Local
        versions (never uploaded) do not count.
        Equal versions (``v1.0`` and ``v1.0.0``) prefer the tag pubkit would write, then the
        alphabetically first, whatever the order of ``tags``.
        """
        best: tuple[tuple[Version, bool], ReleaseTag] | None = None
        for tag in sorted(tags):
            parsed = self.parse(tag, name)
            if parsed is None or parsed.version.local:
                continue
            rank = (parsed.version, tag == self.render(name, parsed.version))
            if best is None or rank > best[0]:
                best = (rank, ReleaseTag(tag, parsed.version))
        return best[1] if best is not None else None


def _tag_format(fmt: str | TagFormat) -> TagFormat:
    return fmt if isinstance(fmt, TagFormat) else TagFormat(fmt)


def tag_name(fmt: str | TagFormat, name: str, version: str | Version) -> str:
    """The tag of ``name`` at ``version``: normalized name, canonical version."""
    return _tag_format(fmt).render(name, version)


def parse_tag(fmt: str | TagFormat, tag: str) -> ParsedTag | None:
    """``(name, version)`` of ``tag``, or None; see :meth:`TagFormat.parse`."""
    return _tag_format(fmt).parse(tag)


def latest_release_tag(fmt: str | TagFormat, name: str, tags: Iterable[str]) -> ReleaseTag | None:
    """``(tag, version)`` of ``name``'s last release; see :meth:`TagFormat.latest`."""
    return _tag_format(fmt).latest(name, tags)


# ----------------------------------------------------------------- conventional commits


@dataclass(frozen=True)
class ConventionalCommit:
    """A commit message in the Conventional Commits 1.0 form."""

    type: str  # lowercased: the spec makes everything but BREAKING CHANGE case-insensitive
    scope: str | None
    breaking: bool
    subject: str
    body: str = ""
    footers: tuple[tuple[str, str], ...] = ()


_HEADER = re.compile(
    r"(?P<type>[A-Za-z][A-Za-z0-9_-]*)"
    r"(?:\((?P<scope>[^()\n]*)\))?"
    r"(?P<bang>!)?"
    r": +(?P<subject>\S.*)"
)
# `git revert` writes `Revert "<reverted header>"`.
_GIT_REVERT = re.compile(r'Revert "(?P<subject>.+)"')
# The spec's separators are ": " and " #"; a bare ":" would make every URL a footer.
_FOOTER = re.compile(r"(?P<token>BREAKING CHANGE|[A-Za-z0-9][A-Za-z0-9-]*)(?:: | #)(?P<value>.*)")
# Only uppercase counts, as the spec says; accepted on any line after the header because
# people put it in the body too.
_BREAKING_LINE = re.compile(r"^BREAKING[ -]CHANGE:", re.MULTILINE)


def _footers(paragraph: list[str]) -> tuple[tuple[str, str], ...] | None:
    """The footers of a paragraph, or None if it does not start with one."""
    footers: list[tuple[str, str]] = []
    for line in paragraph:
        match = _FOOTER.fullmatch(line)
        if match:
            footers.append((match["token"], match["value"].strip()))
        elif footers:  # a value may continue over several lines
            token, value = footers[-1]
            footers[-1] = (token, f"{value}\n{line}".strip())
        else:
            return None
    return tuple(footers)


def parse_conventional_commit(message: str) -> ConventionalCommit | None:
    """The conventional commit in ``message``, or None (merges, free text, fixups)."""
    lines = message.replace("\r\n", "\n").strip().split("\n")
    header = lines[0].strip()
    if header.startswith(("Merge ", "Merged ")):
        return None  # merges repeat changes whose own commits are counted already
    rest = "\n".join(lines[1:]).strip("\n")
    revert = _GIT_REVERT.fullmatch(header)
    if revert:
        commit_type, scope, bang, subject = "revert", None, False, revert["subject"]
    else:
        match = _HEADER.fullmatch(header)
        if match is None:
            return None
        scope = match["scope"].strip() if match["scope"] is not None else None
        if scope == "":
            return None  # `feat(): x` is malformed: a scope is a noun
        commit_type, bang, subject = match["type"].lower(), bool(match["bang"]), match["subject"]
    body = rest
    footers: tuple[tuple[str, str], ...] = ()
    paragraphs = re.split(r"\n[ \t]*\n", rest) if rest else []
    if paragraphs:
        parsed = _footers(paragraphs[-1].split("\n"))
        if parsed is not None:
            footers = parsed
            body = "\n\n".join(paragraphs[:-1])
    return ConventionalCommit(
        type=commit_type,
        scope=scope,
        breaking=bang or bool(_BREAKING_LINE.search(rest)),
        subject=subject.strip(),
        body=body.strip(),
        footers=footers,
    )


# Reverts bump patch, as semantic-release does: released code changed. A revert is not
# matched against the commit it reverts.
_TYPE_BUMPS: dict[str, ReleasePart] = {
    "feat": "minor",
    "fix": "patch",
    "perf": "patch",
    "revert": "patch",
}
_RANK: dict[ReleasePart, int] = {"patch": 1, "minor": 2, "major": 3}


def bump_for_commits(
    messages: Iterable[str],
    current: str | Version | None = None,
    *,
    major_zero_breaking: ReleasePart = "minor",
) -> ReleasePart | None:
    """The largest bump the commits ask for, or None when none of them changes a release.

    Breaking -> major, except below 1.0 (``current`` 0.x) where it is
    ``major_zero_breaking`` (minor by default, as semver-minded tools do: 0.x may break in a
    minor); feat -> minor; fix, perf and reverts -> patch; other types (chore, docs, ci,
    test, refactor, style, build, …), merges and free-text messages -> None.
    """
    if major_zero_breaking not in _RELEASE_PARTS:
        raise UsageError(
            f"major_zero_breaking must be one of {', '.join(_RELEASE_PARTS)}, "
            f"not {major_zero_breaking!r}"
        )
    version = parse_version(current) if current is not None else None
    breaking: ReleasePart = (
        major_zero_breaking if version is not None and version.release[0] == 0 else "major"
    )
    result: ReleasePart | None = None
    for message in messages:
        commit = parse_conventional_commit(message)
        if commit is None:
            continue
        part = breaking if commit.breaking else _TYPE_BUMPS.get(commit.type)
        if part is not None and (result is None or _RANK[part] > _RANK[result]):
            result = part
    return result


def next_version_conventional(
    current: str | Version,
    messages: Iterable[str],
    *,
    major_zero_breaking: ReleasePart = "minor",
    final: bool = False,
) -> Version | None:
    """``current`` bumped as the commits ask, or None when they ask for no release."""
    version = releasable(current)
    part = bump_for_commits(messages, version, major_zero_breaking=major_zero_breaking)
    return bump(version, part, final=final) if part is not None else None


# ------------------------------------------------------------------------- requirements


def _requirement(value: Requirement | str) -> Requirement:
    if isinstance(value, Requirement):
        return value
    try:
        return Requirement(value)
    except InvalidRequirement:
        raise UsageError(
            f"{value!r} is not a valid requirement; write it as in pyproject.toml, "
            "e.g. 'acme-core>=1.2,<2'"
        ) from None


def satisfies(requirement: Requirement | str, version: str | Version) -> bool:
    """Whether ``version`` is admitted by the requirement's specifier.

    A pre-release is admitted when the specifier's range covers it, as pip does for a version
    asked for explicitly. Markers describe environments, not versions, and are ignored.
    """
    return _requirement(requirement).specifier.contains(parse_version(version), prereleases=True)


def _ceiling(version: Version) -> str:
    """The next version allowed to break: next major, or next minor below 1.0."""
    epoch = f"{version.epoch}!" if version.epoch else ""
    if version.release[0] == 0:
        minor = version.release[1] if len(version.release) > 1 else 0
        return f"{epoch}0.{minor + 1}"
    return f"{epoch}{version.release[0] + 1}"


def _widen(spec: Specifier, version: Version, requirement: Requirement) -> list[str]:
    operator, bound = spec.operator, spec.version
    if operator in ("<", "<="):
        return [f"<{_ceiling(version)}"]
    if operator == "===":
        return [f"==={version}"]
    if operator == "==" and not bound.endswith(".*"):
        return [f"=={version}"]
    if operator in ("==", "~="):
        floor = bound[:-2] if operator == "==" else bound
        if version >= Version(floor):
            return [f">={floor}", f"<{_ceiling(version)}"]
    # Lower bounds and exclusions are statements about versions that exist; moving them
    # would override a decision someone made, so a person has to.
    raise UsageError(
        f"{version} is excluded by '{spec}' in '{requirement}'; pubkit widens only upper "
        "bounds and pins, never lowers a lower bound or drops an exclusion: edit it by hand"
    )


def widen_requirement(requirement: Requirement, new_version: str | Version) -> Requirement:
    """A requirement that admits ``new_version`` and everything ``requirement`` admitted.

    Returns ``requirement`` itself when it already admits the version. Otherwise each
    clause that excludes it is rewritten; the others, the name, extras, URL and markers stay:

    - ``<X``, ``<=X`` -> ``<C`` where C is the next major above the new version (the next
      minor below 1.0): ``>=1.2,<2`` + 2.0.0 -> ``>=1.2,<3``;
    - ``~=X`` and ``==X.*`` -> ``>=X,<C``: ``~=1.2`` + 2.0 -> ``>=1.2,<3``,
      ``==1.2.*`` + 1.3.0 -> ``>=1.2,<2``;
    - ``==X`` / ``===X`` (exact pins) -> ``==new`` / ``===new``: a pin follows the release;
    - ``>=X``, ``>X``, ``!=X`` are never changed: UsageError.
    """
    version = releasable(new_version)
    if satisfies(requirement, version):
        return requirement
    clauses: list[str] = []
    for spec in requirement.specifier:
        if spec.contains(version, prereleases=True):
            rewritten = [str(spec)]
        else:
            rewritten = _widen(spec, version, requirement)
        # `~=1.2,>=1.2` would otherwise say `>=1.2` twice.
        clauses.extend(clause for clause in rewritten if clause not in clauses)
    result = Requirement(str(requirement))
    result.specifier = SpecifierSet(",".join(clauses))
    return result


# Lower bounds, then pins, then exclusions, then upper bounds: how people write ranges.
_CLAUSE_ORDER = {">=": 0, ">": 0, "~=": 0, "==": 1, "===": 1, "!=": 2, "<": 3, "<=": 3}


def format_requirement(requirement: Requirement) -> str:
    """``requirement`` as text with its clauses in reading order (``acme>=1.2,<3``).

    ``str(Requirement)`` sorts clauses alphabetically, which puts ``<3`` first.
    """
    specs = sorted(
        requirement.specifier,
        key=lambda spec: (_CLAUSE_ORDER.get(spec.operator, 1), str(spec)),
    )
    text = requirement.name
    if requirement.extras:
        text += f"[{','.join(sorted(requirement.extras))}]"
    text += ",".join(str(spec) for spec in specs)
    if requirement.url:
        text += f" @ {requirement.url}"
        if requirement.marker is not None:
            text += " "  # PEP 508: a space must separate a URL from the ';'
    if requirement.marker is not None:
        text += f"; {requirement.marker}"
    return text
