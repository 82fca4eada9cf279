"""``pubkit init``: find the packages of a monorepo and write a starting configuration.

The decisions are pure functions: which globs name exactly the packages found
(:func:`package_globs`), what the starting table holds (:func:`starting_config`), how it reads
(:func:`render_config`) and how it goes into an existing pyproject.toml (:func:`with_config`,
:func:`without_config`). The walk over the disk (:func:`discover`) and the checks that need
it (:func:`prepare_init`) only read; :func:`apply_init` is the one place that writes. Nothing
here prints: the CLI reports what an :class:`InitPlan` says.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import tomlkit
from tomlkit import TOMLDocument
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Array, Table

from pubkit.errors import ConfigurationError, UsageError
from pubkit.releasing.core.adopt import ADOPTED_GROUP, Adoption, adopt_tags
from pubkit.releasing.core.graph import DependencyGraph
from pubkit.releasing.core.versioning import DEFAULT_TAG_FORMAT, TagFormat
from pubkit.releasing.core.workspace import (
    ROOT,
    VERSION_STRATEGIES,
    Package,
    Workspace,
    build_workspace,
    match_package_dirs,
    parse_config,
    uv_workspace_globs,
)
from pubkit.releasing.discovery import (
    PYPROJECT,
    Discovery,
    choose_packages,
    discover,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

STANDALONE = "pubkit.toml"
_TEST_EXTRA = "test"
_LINE_LENGTH = 100

# The comment above each key of the starting config, in the order the keys are written.
_COMMENTS: dict[str, tuple[str, ...]] = {
    "packages": (
        "The package directories, as globs relative to this file (each with a pyproject.toml).",
    ),
    "index-url": (
        "The simple index that plan, test and publish use; PUBKIT_INDEX_URL overrides it.",
    ),
    "tag-format": ("The git tag of each release; {name} is the normalized package name.",),
    "version-strategy": (
        "manual: release the version written in each package when the index lacks it;",
        "bump: bump changed packages and their dependents; conventional: per commit messages.",
    ),
    "test-command": ("Run per package in a fresh venv, with its built wheel installed.",),
    "test-extras": ("Installed with the wheel: each package's extras or groups of these names.",),
    "packages-exclude": ("Directories the globs match that are not packages to release.",),
}
# Written in place of index-url when none is given: there is no default index to write.
_NO_INDEX_HINT = (
    "The simple index that plan, test and publish use (or set PUBKIT_INDEX_URL), e.g.",
    'index-url = "https://pypi.example.com/simple/"',
)
_STANDALONE_HEADER = (
    "pubkit: where the packages of this monorepo are and how to release them.",
    "The same keys as [tool.pubkit] in pyproject.toml; when this file exists, pubkit reads",
    "it instead.",
)


# ---------------------------------------------------------------------------------------------
# Pure: globs, the starting table, its text


def _escape(path: PurePosixPath) -> str:
    """``path`` as a glob that matches only itself (``[`` ``*`` ``?`` bracketed)."""
    return re.sub(r"([*?[])", r"[\1]", path.as_posix())


def package_globs(
    packages: Iterable[PurePosixPath | str], others: Iterable[PurePosixPath | str] = ()
) -> tuple[str, ...]:
    """Globs for ``[tool.pubkit] packages`` that match all of ``packages`` and none of ``others``.

    ``packages`` and ``others`` are directories relative to the workspace root that hold a
    pyproject.toml, ``others`` those that are not packages (no ``[project]`` table): the
    loader treats every directory a glob matches and that holds a pyproject.toml as a package,
    and fails on one without ``[project]``, so a glob must not reach them.

    One ``parent/*`` per parent directory of packages, unless ``others`` share that parent:
    then the packages there are listed one by one. Packages directly at the root are always
    listed: a root-level ``*`` would claim every directory added later (docs, tools, tests).
    The root itself, when it is a package, is ``.``. Globs spanning several parents (``*/*``)
    are never made: they are hard to read and claim directories nobody meant. The result is
    sorted by path.
    """
    wanted = {PurePosixPath(p) for p in packages}
    crowded = {PurePosixPath(o).parent for o in others if PurePosixPath(o) not in wanted}
    by_parent: dict[PurePosixPath, list[PurePosixPath]] = {}
    chosen: list[tuple[tuple[str, ...], str]] = []
    if ROOT in wanted:
        wanted.discard(ROOT)
        chosen.append(((), "."))
    for directory in wanted:
        by_parent.setdefault(directory.parent, []).append(directory)
    for parent, directories in by_parent.items():
        if parent.parts and parent not in crowded:
            chosen.append(((*parent.parts, "*"), f"{_escape(parent)}/*"))
        else:
            chosen.extend((d.parts, _escape(d)) for d in directories)
    return tuple(glob for _, glob in sorted(chosen))


def has_test_extra(packages: Iterable[Package]) -> bool:
    """Whether any package has a ``test`` extra or dependency group (names are normalized)."""
    return any(
        _TEST_EXTRA in p.optional_dependencies or _TEST_EXTRA in p.dependency_groups
        for p in packages
    )


def starting_config(
    globs: Iterable[str] | None,
    *,
    index_url: str | None = None,
    tag_format: str = DEFAULT_TAG_FORMAT,
    version_strategy: str = "manual",
    test_extras: bool = True,
    packages_exclude: Iterable[str] = (),
    adoption: Adoption | None = None,
) -> dict[str, Any]:
    """The keys and values of a starting ``[tool.pubkit]``, in the order they are written.

    ``packages`` only when ``globs`` is given (None: ``[tool.uv.workspace]`` names them).
    ``index-url`` only when given: there is no default index. ``test-extras`` only when some
    package has a ``test`` extra or group: otherwise the key would name nothing to install.
    With an ``adoption``, its tag formats and lockstep group.
    """
    table: dict[str, Any] = {}
    if globs is not None:
        table["packages"] = list(globs)
    excluded = list(packages_exclude)
    if excluded:
        table["packages-exclude"] = excluded
    if adoption is not None:
        tag_format = adoption.tag_format
    if index_url is not None:
        table["index-url"] = index_url
    table["tag-format"] = tag_format
    table["version-strategy"] = version_strategy
    table["test-command"] = "pytest"
    if test_extras:
        table["test-extras"] = [_TEST_EXTRA]
    if adoption is not None and adoption.tag_formats:
        table["tag-formats"] = dict(adoption.tag_formats)
    if adoption is not None and adoption.group:
        group: dict[str, Any] = {"name": ADOPTED_GROUP, "members": list(adoption.group)}
        if adoption.group_format != tag_format:
            group["tag-format"] = adoption.group_format
        table["group"] = [group]
    return table


def _array(key: str, values: Iterable[str]) -> Array:
    array = tomlkit.array()
    array.extend(values)
    if len(array) > 1 and len(f"{key} = {array.as_string()}") > _LINE_LENGTH:
        array.multiline(True)
    return array


def render_config(table: Mapping[str, Any], *, standalone: bool) -> str:
    """The TOML of the config: a whole ``pubkit.toml`` (``standalone``) or the
    ``[tool.pubkit]`` table to put into pyproject.toml. Each key gets a short comment."""
    body: TOMLDocument | Table
    document = tomlkit.document()
    if standalone:
        for line in _STANDALONE_HEADER:
            document.add(tomlkit.comment(line))
        document.add(tomlkit.nl())
        body = document
    else:
        body = tomlkit.table()
    for key, value in table.items():
        hint = _NO_INDEX_HINT if key == "tag-format" and "index-url" not in table else ()
        for line in (*hint, *_COMMENTS.get(key, ())):
            body.add(tomlkit.comment(line))
        if key == "group":  # [[tool.pubkit.group]]: an array of tables
            groups = tomlkit.aot()
            for entry in value:
                groups.append(tomlkit.item(entry))
            body.add(key, groups)
        elif isinstance(value, list):
            body.add(key, _array(key, value))
        else:
            body.add(key, value)
    if not standalone:
        tool = tomlkit.table(is_super_table=True)
        tool.add("pubkit", body)
        document.add("tool", tool)
    return tomlkit.dumps(document)


# ---------------------------------------------------------------------------------------------
# Pure: editing pyproject.toml text


def _without_pubkit(data: Mapping[str, Any]) -> dict[str, Any]:
    rest = dict(data)
    tool = rest.get("tool")
    if isinstance(tool, Mapping):
        tool = {k: v for k, v in tool.items() if k != "pubkit"}
        if tool:
            rest["tool"] = tool
        else:
            del rest["tool"]
    return rest


def _same_newlines(original: str, edited: str) -> str:
    # tomlkit writes "\n" for what it adds: a file written with CRLF throughout stays so.
    if "\r\n" in original and original.count("\n") == original.count("\r\n"):
        return edited.replace("\r\n", "\n").replace("\n", "\r\n")
    return edited


def _pubkit_table(data: Mapping[str, Any]) -> Any:
    tool = data.get("tool")
    return tool.get("pubkit") if isinstance(tool, Mapping) else None


def _differs_in_pubkit_only(original: str, edited: str, pubkit: Any) -> bool:
    try:
        before, after = tomllib.loads(original), tomllib.loads(edited)
    except tomllib.TOMLDecodeError:
        return False
    return _without_pubkit(before) == _without_pubkit(after) and _pubkit_table(after) == pubkit


def _checked_edit(original: str, edited: str, pubkit: Any, what: str) -> str:
    """``edited``, once it is proven to differ from ``original`` in ``tool.pubkit`` alone:
    tomlkit edits some unusual layouts wrongly, and a user's file must not pay for it."""
    if not _differs_in_pubkit_only(original, edited, pubkit):
        raise ConfigurationError(
            f"cannot {what} pyproject.toml without disturbing the rest of it; edit it by hand "
            "(`pubkit init --dry-run` prints the table) or use --pubkit-toml"
        )
    return edited


def _parse_document(text: str, what: str) -> TOMLDocument:
    try:
        return tomlkit.parse(text)
    except TOMLKitError as error:
        raise ConfigurationError(f"cannot {what} pyproject.toml: {error}; fix the file") from None


def with_config(pyproject: str, config: str) -> str:
    """``pyproject`` (text, possibly empty) with ``[tool.pubkit]`` set to the table that
    ``config`` (from :func:`render_config`, not standalone) holds.

    Formatting and comments elsewhere are kept: a table already there is replaced in place;
    a new one goes after the other ``[tool.*]`` tables, or at the end.
    """
    what = "add [tool.pubkit] to"
    text = pyproject.replace("\r\n", "\n")
    if text and not text.endswith("\n"):
        text += "\n"  # else tomlkit glues the new header to the last line
    document = _parse_document(text, what)
    snippet: Any = tomlkit.parse(config)
    table: Table = snippet["tool"]["pubkit"]
    wanted = _pubkit_table(tomllib.loads(config))
    # The blank line that separates the table from whatever follows it; trimmed below when
    # nothing does.
    table.add(tomlkit.nl())
    try:
        if "tool" in document:
            # tomlkit's item types are loose: `tool` may be a table or a proxy over tables.
            tool: Any = document["tool"]
            tool["pubkit"] = table
        else:
            tool = tomlkit.table(is_super_table=True)
            tool.add("pubkit", table)
            document.add("tool", tool)
        edited = tomlkit.dumps(document)
    except (TOMLKitError, ValueError, TypeError):
        # tomlkit refuses some shapes (`tool` as an inline table or a plain value).
        edited = ""
    if edited.endswith("\n\n") and not text.endswith("\n\n"):
        edited = edited[:-1]
    return _same_newlines(pyproject, _checked_edit(text, edited, wanted, what))


def without_config(pyproject: str) -> str:
    """``pyproject`` (text) without its ``[tool.pubkit]``; the rest as it was."""
    what = "remove [tool.pubkit] from"
    text = pyproject.replace("\r\n", "\n")
    document = _parse_document(text, what)
    try:
        tool: Any = document["tool"]
        del tool["pubkit"]
        if not tool:
            del document["tool"]
        edited = tomlkit.dumps(document)
    except (TOMLKitError, KeyError, ValueError, TypeError):
        edited = ""
    if edited.endswith("\n\n") and not text.endswith("\n\n"):
        edited = edited.rstrip("\n") + "\n" if edited.strip() else ""
    return _same_newlines(pyproject, _checked_edit(text, edited, None, what))


# ---------------------------------------------------------------------------------------------
# Reading the disk


def _read_text(path: Path) -> str:
    # Bytes, then decode: read_text would turn CRLF into LF before we could see it.
    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"cannot read {path}: {error}; fix the file") from None


# ---------------------------------------------------------------------------------------------
# The plan, and writing it


@dataclass(frozen=True)
class InitOptions:
    """What the user chose; the rest of the starting config is pubkit's defaults."""

    index_url: str | None = None
    version_strategy: str = "manual"
    tag_format: str = DEFAULT_TAG_FORMAT
    standalone: bool = False  # pubkit.toml instead of [tool.pubkit] in pyproject.toml
    force: bool = False  # replace an existing config
    tags: tuple[str, ...] | None = None  # --adopt: the repository's tags, to map to packages


@dataclass(frozen=True)
class FileChange:
    """A file to write with ``text``, or to delete (``text`` None)."""

    path: Path
    text: str | None


@dataclass(frozen=True)
class InitPlan:
    """What ``pubkit init`` found and would write; :func:`apply_init` writes it.

    ``config_text`` is the TOML of the config itself: the whole pubkit.toml, or the
    ``[tool.pubkit]`` table that goes into pyproject.toml. ``workspace`` is what pubkit will
    load from it; ``order`` its packages, dependencies first. ``replaced`` names the configs
    that the new one replaces (only with ``force``).
    """

    root: Path
    config_path: Path
    config_text: str
    workspace: Workspace
    order: tuple[Package, ...]
    changes: tuple[FileChange, ...]
    replaced: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    skipped: tuple[tuple[PurePosixPath, str], ...] = ()  # directories left out, and why
    adoption: Adoption | None = None  # with --adopt: which existing tags are whose

    @property
    def config_name(self) -> str:
        """``pubkit.toml`` or ``[tool.pubkit]``, as messages name it."""
        return STANDALONE if self.config_path.name == STANDALONE else "[tool.pubkit]"


def _check_options(options: InitOptions) -> None:
    if options.version_strategy not in VERSION_STRATEGIES:
        raise UsageError(
            f"--version-strategy {options.version_strategy!r} is unknown; "
            f"use one of {', '.join(VERSION_STRATEGIES)}"
        )
    TagFormat(options.tag_format)  # its own message names tag-format and the fix
    if options.index_url is not None:
        parts = urlsplit(options.index_url)
        # The URL is not echoed: it may carry credentials.
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(
                "the index URL is not an http(s) URL; e.g. https://pypi.example.com/simple/"
            )
        if parts.password:
            raise UsageError(
                "the index URL holds a password, which would end up in git; give it without "
                "and set PUBKIT_INDEX_PASSWORD or PUBKIT_INDEX_TOKEN"
            )


def _existing_configs(root: Path) -> tuple[list[str], str | None]:
    """The configs already at ``root`` (as messages name them) and the text of its
    pyproject.toml (None when there is none)."""
    found = []
    if (root / STANDALONE).is_file():
        found.append(STANDALONE)
    pyproject = root / PYPROJECT
    if not pyproject.is_file():
        return found, None
    text = _read_text(pyproject)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"{pyproject} is not valid TOML: {error}; fix the file") from None
    tool = data.get("tool")
    if isinstance(tool, Mapping) and "pubkit" in tool:
        found.append(f"[tool.pubkit] in {PYPROJECT}")
    return found, text


def _no_packages_message(root: Path, discovery: Discovery) -> str:
    message = (
        f"no package found under {root}: looked for directories below it with a pyproject.toml "
        "that has a [project] table (hidden, virtualenv, build and dist directories skipped)"
    )
    if discovery.others:
        message += f"; {len(discovery.others)} pyproject.toml found without [project]"
    return message


def _dependency_order(workspace: Workspace) -> tuple[tuple[Package, ...], list[str]]:
    try:
        names = DependencyGraph(workspace).topological_order()
    except ConfigurationError as error:
        # The config is right all the same: the cycle is for the user to break, and every
        # release command will say so again.
        return workspace.packages, [error.message]
    return tuple(workspace.package(name) for name in names), []


def prepare_init(root: Path, options: InitOptions) -> InitPlan:
    """Find the packages under ``root`` and work out the config; reads, never writes.

    Raises UsageError for bad options or a config already there (without ``force``), and
    ConfigurationError when no package is found or one of them cannot be loaded.
    """
    _check_options(options)
    root = Path(root).resolve()
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory; pass the monorepo's root with -C")
    existing, pyproject_text = _existing_configs(root)
    if existing and not options.force:
        raise UsageError(f"{root} already has {' and '.join(existing)}; use --force to replace it")

    discovery = discover(root)
    if not discovery.packages:
        raise ConfigurationError(_no_packages_message(root, discovery))
    packages, skipped = choose_packages(discovery.packages)
    if not packages:
        reasons = "; ".join(f"{path}: {why}" for path, why in skipped)
        raise ConfigurationError(f"no package pubkit can release under {root} ({reasons})")
    kept = {p.path for p in packages}
    left_out = [path for path, _ in skipped]
    globs: tuple[str, ...] | None = package_globs(kept, [*discovery.others, *left_out])
    excluded: list[str] = []
    uv_members, uv_exclude = uv_workspace_globs(discovery.root or {})
    candidates: dict[PurePosixPath, Mapping[str, Any]] = {d: {} for d in discovery.others}
    candidates.update(discovery.packages)
    if uv_members:
        from_uv = match_package_dirs(uv_members, candidates, uv_exclude)
        if set(from_uv) <= kept | set(left_out):
            # uv's members name them: no `packages`, only what pubkit cannot release.
            globs = None
            excluded = [_escape(path) for path in from_uv if path not in kept]
    adoption = None
    if options.tags is not None:
        root_package = next((p.normalized for p in packages if p.path == ROOT), None)
        adoption = adopt_tags([p.normalized for p in packages], options.tags, root_package)
    table = starting_config(
        globs,
        index_url=options.index_url,
        tag_format=options.tag_format,
        version_strategy=options.version_strategy,
        test_extras=has_test_extra(packages),
        packages_exclude=excluded,
        adoption=adoption,
    )
    config_text = render_config(table, standalone=options.standalone)
    parsed = tomllib.loads(config_text)
    source = STANDALONE if options.standalone else "[tool.pubkit]"
    config, warnings = parse_config(
        parsed if options.standalone else parsed["tool"]["pubkit"], source=source,
        root_pyproject=discovery.root,
    )  # fmt: skip
    # Load it as the loader will: every directory with a pyproject.toml that a glob matches
    # is a package (and one without [project] an error), so the others are handed in too.
    workspace = build_workspace(
        root, config, {d: data for d, data in candidates.items() if d not in left_out}
    )
    order, cycle = _dependency_order(workspace)

    changes: list[FileChange] = []
    if options.standalone:
        config_path = root / STANDALONE
        changes.append(FileChange(config_path, config_text))
        if pyproject_text is not None and any(e != STANDALONE for e in existing):
            changes.append(FileChange(root / PYPROJECT, without_config(pyproject_text)))
    else:
        config_path = root / PYPROJECT
        changes.append(FileChange(config_path, with_config(pyproject_text or "", config_text)))
        if STANDALONE in existing:
            # The loader reads pubkit.toml first: left in place, it would hide the new table.
            changes.append(FileChange(root / STANDALONE, None))
    return InitPlan(
        root=root,
        config_path=config_path,
        config_text=config_text,
        workspace=workspace,
        order=order,
        changes=tuple(changes),
        replaced=tuple(existing),
        warnings=(*discovery.warnings, *warnings, *cycle),
        skipped=tuple(skipped),
        adoption=adoption,
    )


def _write(path: Path, text: str) -> None:
    """Replace (atomically, keeping its mode) or create ``path`` with ``text``."""
    if not path.exists():
        # A new file: created with the usual mode (umask), which mkstemp's 0600 is not.
        with path.open("x", encoding="utf-8", newline="") as out:
            out.write(text)
        return
    target = path.resolve()  # a symlinked pyproject.toml stays a symlink
    mode = target.stat().st_mode & 0o7777
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        Path(temp).chmod(mode)
        Path(temp).replace(target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def apply_init(plan: InitPlan) -> None:
    """Write the plan's files. The new config first: should removing the one it replaces
    fail, pubkit still finds a config (the old one, which wins), never none."""
    for change in plan.changes:
        if change.text is None:
            change.path.unlink(missing_ok=True)
        else:
            _write(change.path, change.text)
