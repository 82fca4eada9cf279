"""The packages of a monorepo and the workspace's configuration, from already-parsed TOML.

Pure: the caller reads the root ``pyproject.toml`` (or ``pubkit.toml``) and each package's
``pyproject.toml`` and hands over the mappings and relative paths; nothing here touches the
disk. Version files are *located* here (path and attribute) but read and written elsewhere.
"""

from __future__ import annotations

import difflib
import fnmatch
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from pubkit.core.distributions import is_valid_project_name, normalize_name
from pubkit.errors import ConfigurationError, UsageError
from pubkit.releasing.core.lockstep import (
    LockstepGroup,
    TagSpec,
    parse_groups,
    parse_tag_formats,
    resolve,
)
from pubkit.releasing.core.testenv import (
    TestOptions,
    parse_command,
    parse_test_options,
    parse_workspace_test_table,
    poetry_groups,
)
from pubkit.releasing.core.toml_values import expect_str, expect_str_list, table, toml_type
from pubkit.releasing.core.version_sources import (
    STATIC_VERSION,
    VersionKind,
    VersionSource,
    dynamic_version,
    vcs_build_env,
)
from pubkit.releasing.core.versioning import DEFAULT_TAG_FORMAT, TagFormat

__all__ = [
    "DEPENDENTS_POLICIES",
    "ROOT",
    "STATIC_VERSION",
    "VERSION_STRATEGIES",
    "DependentsPolicy",
    "Package",
    "VersionKind",
    "VersionSource",
    "VersionStrategy",
    "Workspace",
    "WorkspaceConfig",
    "build_workspace",
    "glob_match",
    "match_package_dirs",
    "package_from_pyproject",
    "parse_config",
    "unknown_package_message",
    "uv_workspace_globs",
    "vcs_build_env",
]

VersionStrategy = Literal["manual", "bump", "conventional"]
VERSION_STRATEGIES: tuple[str, ...] = get_args(VersionStrategy)
# When a package is released only because an internal dependency was: "when-required" when
# its requirement no longer admits the new version (an == pin, an upper bound), "always"
# whenever a dependency it needs at runtime is released.
DependentsPolicy = Literal["when-required", "always"]
DEPENDENTS_POLICIES: tuple[str, ...] = get_args(DependentsPolicy)
ROOT = PurePosixPath()

# ---------------------------------------------------------------------------------------------
# Globs


def glob_match(pattern: str, path: PurePosixPath | str) -> bool:
    """Whether the whole of ``path`` matches ``pattern``.

    ``*``, ``?`` and ``[...]`` match within one path segment (case-sensitively, so a result
    does not depend on the filesystem); ``**`` matches any number of segments, none included.
    Unlike ``PurePosixPath.match`` the pattern is anchored at both ends: ``packages/*`` does
    not match ``vendor/packages/x``.
    """
    return _match_parts(PurePosixPath(pattern).parts, PurePosixPath(path).parts)


def _match_parts(pattern: Sequence[str], parts: Sequence[str]) -> bool:
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match_parts(rest, parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], head) and _match_parts(rest, parts[1:])


def match_package_dirs(
    globs: Iterable[str],
    candidate_dirs: Iterable[PurePosixPath | str],
    exclude: Iterable[str] = (),
) -> list[PurePosixPath]:
    """The candidate directories (relative, each holding a pyproject.toml) that a glob names.

    Hidden directories (``.venv``, ``.tox``, ``.git``) are never packages, whatever the glob.
    The workspace root is a package only when a glob is exactly ``.`` (never through ``**``).
    Directories that an ``exclude`` glob matches are left out. The result is sorted by path
    segments and free of duplicates.
    """
    patterns = tuple(globs)
    excluded = tuple(exclude)
    dirs = {PurePosixPath(d) for d in candidate_dirs}

    def named(d: PurePosixPath) -> bool:
        if d == ROOT:
            return any(PurePosixPath(p) == ROOT for p in patterns)
        return any(glob_match(p, d) for p in patterns if PurePosixPath(p) != ROOT)

    return sorted(
        (
            d
            for d in dirs
            if not any(part.startswith(".") for part in d.parts)
            and named(d)
            and not any(glob_match(p, d) for p in excluded)
        ),
        key=lambda d: d.parts,
    )


# ---------------------------------------------------------------------------------------------
# Workspace configuration


@dataclass(frozen=True)
class WorkspaceConfig:
    """The ``[tool.pubkit]`` table of the root pyproject.toml (or the top of ``pubkit.toml``)."""

    packages: tuple[str, ...] = ("packages/*",)
    index_url: str | None = None
    tag_format: str = DEFAULT_TAG_FORMAT
    version_strategy: VersionStrategy = "manual"
    test_command: tuple[str, ...] = ("pytest",)
    test_extras: tuple[str, ...] = ("test",)
    # Changes to files matching these (relative to the package directory) do not count.
    exclude: tuple[str, ...] = ()
    # Directories that `packages` matches but that are not packages (docs/examples/*).
    packages_exclude: tuple[str, ...] = ()
    dependents: DependentsPolicy = "when-required"
    tag_formats: tuple[tuple[str, str], ...] = ()  # normalized package name -> tag format
    groups: tuple[LockstepGroup, ...] = ()
    # Where `packages` came from, for messages: the pubkit table or [tool.uv.workspace].
    packages_source: str = "packages"
    # [tool.pubkit.test]: the default test settings, and per-package ones by normalized name.
    test: TestOptions = field(default_factory=TestOptions)
    test_packages: Mapping[str, TestOptions] = field(default_factory=dict, hash=False)

    def is_excluded(self, path_in_package: PurePosixPath | str) -> bool:
        """Whether a change to this file (relative to its package directory) does not count."""
        return any(glob_match(pattern, path_in_package) for pattern in self.exclude)


def _relative_glob(pattern: str, what: str) -> str:
    path = PurePosixPath(pattern)
    if not pattern.strip() or path.is_absolute() or ".." in path.parts:
        raise ConfigurationError(
            f"{what} has {pattern!r}; use a glob relative to the workspace root, inside it"
        )
    # PurePosixPath drops "./" and a trailing "/", which users write either way.
    return str(path)


def _parse_globs(value: object, what: str, example: str) -> tuple[str, ...]:
    return tuple(_relative_glob(p, what) for p in expect_str_list(value, what, example))


def _parse_packages(value: object, what: str) -> tuple[str, ...]:
    globs = _parse_globs(value, what, 'packages = ["packages/*"]')
    if not globs:
        raise ConfigurationError(
            f'{what} is empty; list the package directories, e.g. ["packages/*"]'
        )
    return globs


def _parse_exclude(value: object, what: str) -> tuple[str, ...]:
    return _parse_globs(value, what, 'exclude = ["**/*.md", "docs/**"]')


def _parse_packages_exclude(value: object, what: str) -> tuple[str, ...]:
    return _parse_globs(value, what, 'packages-exclude = ["docs/examples/*"]')


def _parse_dependents(value: object, what: str) -> str:
    policy = expect_str(value, what, 'dependents = "always"')
    if policy not in DEPENDENTS_POLICIES:
        raise ConfigurationError(
            f"{what} {policy!r} is unknown; use one of {', '.join(DEPENDENTS_POLICIES)}"
        )
    return policy


def _parse_index_url(value: object, what: str) -> str:
    url = expect_str(value, what, 'index-url = "https://pypi.example.com/simple/"')
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        # The value is not echoed: it may carry credentials.
        raise ConfigurationError(f"{what} is not an http(s) URL; e.g. https://pypi.example.com/")
    return url


def _parse_tag_format(value: object, what: str) -> str:
    fmt = expect_str(value, what, f"tag-format = {DEFAULT_TAG_FORMAT!r}")
    # versioning owns the tag rules (fields, separators, what git allows in a ref): checked
    # now because tags are written after the upload, too late to find out.
    try:
        TagFormat(fmt)
    except ConfigurationError as error:
        source = what.rpartition(" ")[0]
        raise ConfigurationError(f"{source} {error.message}") from None
    return fmt


def _parse_version_strategy(value: object, what: str) -> str:
    strategy = expect_str(value, what, 'version-strategy = "manual"')
    if strategy not in VERSION_STRATEGIES:
        raise ConfigurationError(
            f"{what} {strategy!r} is unknown; use one of {', '.join(VERSION_STRATEGIES)}"
        )
    return strategy


def _parse_test_command(value: object, what: str) -> tuple[str, ...]:
    return parse_command(value, what, "test-command")


def _parse_test_extras(value: object, what: str) -> tuple[str, ...]:
    return expect_str_list(value, what, 'test-extras = ["test"]')


# TOML key -> (dataclass field, parser)
_CONFIG_KEYS: dict[str, tuple[str, Callable[[object, str], object]]] = {
    "packages": ("packages", _parse_packages),
    "index-url": ("index_url", _parse_index_url),
    "tag-format": ("tag_format", _parse_tag_format),
    "version-strategy": ("version_strategy", _parse_version_strategy),
    "test-command": ("test_command", _parse_test_command),
    "test-extras": ("test_extras", _parse_test_extras),
    "exclude": ("exclude", _parse_exclude),
    "packages-exclude": ("packages_exclude", _parse_packages_exclude),
    "dependents": ("dependents", _parse_dependents),
    "tag-formats": ("tag_formats", parse_tag_formats),
    "group": ("groups", parse_groups),
    "test": ("test", lambda value, what: parse_workspace_test_table(value, what)),
}


def _unknown_key_warning(key: str, source: str) -> str:
    kebab = key.replace("_", "-")  # tag_format is the likeliest slip of all
    guess = (
        [kebab]
        if kebab in _CONFIG_KEYS
        else difflib.get_close_matches(key, _CONFIG_KEYS, n=1, cutoff=0.6)
    )
    if guess:
        return f"unknown key {key!r} in {source}; did you mean {guess[0]!r}?"
    return f"unknown key {key!r} in {source}; known keys: {', '.join(sorted(_CONFIG_KEYS))}"


def uv_workspace_globs(
    root_pyproject: Mapping[str, Any],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(members, exclude) of the root's ``[tool.uv.workspace]``, as package globs; the root
    itself is a member when it has a ``[project]`` (as uv has it). ((), ()) without one."""
    tool = root_pyproject.get("tool")
    uv = tool.get("uv") if isinstance(tool, Mapping) else None
    table = uv.get("workspace") if isinstance(uv, Mapping) else None
    if not isinstance(table, Mapping):
        return (), ()
    what = "[tool.uv.workspace]"
    members = _parse_globs(table.get("members", []), f"{what} members", 'members = ["libs/*"]')
    exclude = _parse_globs(table.get("exclude", []), f"{what} exclude", 'exclude = ["libs/x"]')
    if "project" in root_pyproject and "." not in members:
        members = (".", *members)
    return members, exclude


def parse_config(
    table: Mapping[str, Any],
    *,
    source: str = "[tool.pubkit]",
    root_pyproject: Mapping[str, Any] | None = None,
) -> tuple[WorkspaceConfig, list[str]]:
    """The workspace config from its TOML table, and warnings (unknown keys, credentials).

    ``source`` names the table in messages: ``[tool.pubkit]`` or ``pubkit.toml``.
    ``root_pyproject``, the root's parsed pyproject.toml: without ``packages`` in the table,
    its ``[tool.uv.workspace]`` members and exclude are the packages.
    Wrong types and impossible values raise ConfigurationError.
    """
    warnings: list[str] = []
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _CONFIG_KEYS:
            warnings.append(_unknown_key_warning(key, source))
            continue
        field_name, parse = _CONFIG_KEYS[key]
        values[field_name] = parse(value, f"{source} {key}")
    if "packages" not in table and root_pyproject is not None:
        members, exclude = uv_workspace_globs(root_pyproject)
        if members:
            values["packages"] = members
            values["packages_exclude"] = (*exclude, *values.get("packages_exclude", ()))
            values["packages_source"] = "[tool.uv.workspace] members"
    if "test" in values:
        values["test"], values["test_packages"] = values["test"]
    if urlsplit(values.get("index_url") or "").password:
        warnings.append(
            f"index-url in {source} holds a password, which ends up in git; "
            "set PUBKIT_INDEX_PASSWORD or PUBKIT_INDEX_TOKEN instead"
        )
    return WorkspaceConfig(**values), warnings


# ---------------------------------------------------------------------------------------------
# Packages

def _frozen_groups(
    groups: Mapping[str, tuple[Requirement, ...]],
) -> Mapping[str, tuple[Requirement, ...]]:
    return MappingProxyType(dict(groups))


@dataclass(frozen=True)
class Package:
    """One package of the workspace, as its pyproject.toml declares it.

    Keys of ``optional_dependencies`` and ``dependency_groups`` are normalized names
    (PEP 685, PEP 735 compare them that way); include-group entries are already expanded.
    ``dynamic`` lists the ``[project]`` fields the build backend fills in: when it holds
    ``dependencies``, the requirements seen here are incomplete.
    """

    name: str
    path: PurePosixPath
    version: str | None
    version_source: VersionSource = STATIC_VERSION
    dependencies: tuple[Requirement, ...] = ()
    optional_dependencies: Mapping[str, tuple[Requirement, ...]] = field(
        default_factory=dict, hash=False
    )
    dependency_groups: Mapping[str, tuple[Requirement, ...]] = field(
        default_factory=dict, hash=False
    )
    dynamic: tuple[str, ...] = ()
    # [tool.poetry.group.NAME.dependencies] as PEP 508 requirements, by normalized group name.
    poetry_groups: Mapping[str, tuple[Requirement, ...]] = field(
        default_factory=dict, hash=False
    )
    test: TestOptions = field(default_factory=TestOptions)  # its own [tool.pubkit.test]
    # What its test requirements files ask for (local paths as the workspace package there)
    # and their constraints; read by :func:`pubkit.releasing.workspace_files.load_workspace`.
    test_requirements: tuple[Requirement, ...] = ()
    test_constraints: tuple[str, ...] = ()
    normalized: str = field(init=False)

    def __post_init__(self) -> None:
        # Derived, not passed in, so that it can never disagree with the name.
        object.__setattr__(self, "normalized", normalize_name(self.name))
        object.__setattr__(self, "path", PurePosixPath(self.path))
        object.__setattr__(
            self, "optional_dependencies", _frozen_groups(self.optional_dependencies)
        )
        object.__setattr__(self, "dependency_groups", _frozen_groups(self.dependency_groups))
        object.__setattr__(self, "poetry_groups", _frozen_groups(self.poetry_groups))

    @property
    def pyproject_path(self) -> PurePosixPath:
        """The package's pyproject.toml, relative to the workspace root."""
        return self.path / "pyproject.toml"


def _requirements(value: object, where: str, key: str) -> tuple[Requirement, ...]:
    entries = expect_str_list(value, f"{where} {key}", f'{key} = ["requests>=2"]')
    return tuple(_requirement(entry, where, key) for entry in entries)


def _requirement(text: str, where: str, key: str) -> Requirement:
    try:
        return Requirement(text)
    except InvalidRequirement as error:
        # packaging's message spans lines (it draws a caret); the first line says it all.
        reason = str(error).splitlines()[0]
        raise ConfigurationError(
            f"{where} {key} has an invalid requirement {text!r} ({reason}); fix it per PEP 508"
        ) from None


def _optional_dependencies(value: object, where: str) -> dict[str, tuple[Requirement, ...]]:
    key = "[project.optional-dependencies]"
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{where} {key} must be a table, not {toml_type(value)}")
    extras: dict[str, tuple[Requirement, ...]] = {}
    for extra, entries in value.items():
        normalized = normalize_name(extra)
        if normalized in extras:
            raise ConfigurationError(f"{where} {key} names extra {normalized!r} twice; merge them")
        extras[normalized] = _requirements(entries, where, f"{key} {extra}")
    return extras


def _dependency_groups(value: object, where: str) -> dict[str, tuple[Requirement, ...]]:
    """PEP 735 groups, with ``{include-group = ...}`` entries expanded in place."""
    key = "[dependency-groups]"
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{where} {key} must be a table, not {toml_type(value)}")
    raw: dict[str, tuple[str, Any]] = {}  # normalized -> (name as written, entries)
    for group, entries in value.items():
        normalized = normalize_name(group)
        if normalized in raw:
            raise ConfigurationError(f"{where} {key} names group {normalized!r} twice; merge them")
        if not isinstance(entries, list):
            raise ConfigurationError(
                f"{where} {key} {group} must be an array, not {toml_type(entries)}"
            )
        raw[normalized] = (group, entries)

    resolved: dict[str, tuple[Requirement, ...]] = {}

    def resolve(group: str, stack: tuple[str, ...]) -> tuple[Requirement, ...]:
        if group in resolved:
            return resolved[group]
        if group in stack:
            chain = " -> ".join((*stack, group))
            raise ConfigurationError(f"{where} {key} include-group cycle: {chain}; break it")
        written, entries = raw[group]
        requirements: list[Requirement] = []
        for entry in entries:
            if isinstance(entry, str):
                requirements.append(_requirement(entry, where, f"{key} {written}"))
            elif isinstance(entry, Mapping) and set(entry) == {"include-group"}:
                included = normalize_name(str(entry["include-group"]))
                if included not in raw:
                    raise ConfigurationError(
                        f"{where} {key} {written} includes unknown group {included!r}; define it"
                    )
                requirements.extend(resolve(included, (*stack, group)))
            else:
                raise ConfigurationError(
                    f"{where} {key} {written} has {entry!r}; entries are requirement strings "
                    'or {include-group = "name"}'
                )
        resolved[group] = tuple(requirements)
        return resolved[group]

    for group in raw:
        resolve(group, ())
    return resolved


def package_from_pyproject(path: PurePosixPath, pyproject: Mapping[str, Any]) -> Package:
    """The package whose directory is ``path`` (relative to the workspace root)."""
    path = PurePosixPath(path)
    where = str(path / "pyproject.toml")
    if "project" not in pyproject:
        raise ConfigurationError(
            f"{where} has no [project] table; add one (name, version), "
            "or leave the directory out of [tool.pubkit] packages"
        )
    project = table(pyproject, "project", where)
    name = project.get("name")
    if name is None:
        raise ConfigurationError(f'{where} [project] has no name; add name = "your-package"')
    if not isinstance(name, str) or not is_valid_project_name(name):
        raise ConfigurationError(
            f"{where} [project] name {name!r} is not a valid project name; "
            "use letters, digits and . _ - inside"
        )
    dynamic = expect_str_list(
        project.get("dynamic", []), f"{where} [project] dynamic", 'dynamic = ["version"]'
    )
    version = project.get("version")
    if version is not None:
        if "version" in dynamic:
            raise ConfigurationError(
                f"{where} [project] sets a version and declares it dynamic; keep one of them"
            )
        version = expect_str(version, f"{where} [project] version", 'version = "1.0.0"')
        try:
            Version(version)
        except InvalidVersion:
            raise ConfigurationError(
                f"{where} [project] version {version!r} is not a PEP 440 version; e.g. 1.0.0"
            ) from None
        source = STATIC_VERSION
    elif "version" in dynamic:
        source = dynamic_version(pyproject, name, where)
    else:
        raise ConfigurationError(
            f'{where} [project] has no version; add version = "0.1.0", '
            'or dynamic = ["version"] with its source'
        )
    return Package(
        name=name,
        path=path,
        version=version,
        version_source=source,
        dependencies=_requirements(
            project.get("dependencies", []), where, "[project] dependencies"
        ),
        optional_dependencies=_optional_dependencies(
            project.get("optional-dependencies", {}), where
        ),
        dependency_groups=_dependency_groups(pyproject.get("dependency-groups", {}), where),
        dynamic=tuple(sorted(dynamic)),
        poetry_groups=poetry_groups(pyproject, where),
        test=_own_test_options(pyproject, where),
    )


def _own_test_options(pyproject: Mapping[str, Any], where: str) -> TestOptions:
    own = table(table(table(pyproject, "tool", where), "pubkit", where), "test", where)
    return parse_test_options(own, f"{where} [tool.pubkit.test]")


# ---------------------------------------------------------------------------------------------
# Workspace


@dataclass(frozen=True)
class Workspace:
    """A monorepo: its root, its config and its packages, sorted by normalized name."""

    root: Path
    config: WorkspaceConfig
    packages: tuple[Package, ...] = ()
    _membership: Mapping[str, str] = field(init=False, repr=False, compare=False)
    _tag_specs: Mapping[str, TagSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        packages = tuple(sorted(self.packages, key=lambda p: (p.normalized, p.path.parts)))
        for first, second in itertools.pairwise(packages):
            if first.normalized == second.normalized:
                raise ConfigurationError(
                    f"two packages are named {first.normalized!r}: {first.path} and "
                    f"{second.path}; rename one or leave it out of [tool.pubkit] packages"
                )
        # Every release unit (a package, or a lockstep group) writes tags of its own.
        membership, specs = resolve(
            [p.normalized for p in packages],
            self.config.groups,
            dict(self.config.tag_formats),
            self.config.tag_format,
        )
        object.__setattr__(self, "packages", packages)
        object.__setattr__(self, "_membership", MappingProxyType(membership))
        object.__setattr__(self, "_tag_specs", MappingProxyType(specs))

    def tag_spec(self, name: str) -> TagSpec:
        """How the releases of package ``name`` are tagged (its own, or its group's tags)."""
        return self._tag_specs[self.package(name).normalized]

    def group_of(self, name: str) -> str | None:
        """The lockstep group of package ``name``, if it is in one."""
        return self._membership.get(self.package(name).normalized)

    def group_members(self, group: str) -> tuple[str, ...]:
        """The packages of lockstep group ``group``, sorted."""
        return tuple(sorted(n for n, g in self._membership.items() if g == group))

    @classmethod
    def load(cls, root: Path | str) -> Workspace:
        """Read the workspace at ``root`` from disk.

        The reading lives in :mod:`pubkit.releasing.workspace_files` (this module stays pure);
        this is the entry point scripts use: ``pubkit.Workspace.load(".")``.
        """
        from pubkit.releasing.workspace_files import load_workspace

        return load_workspace(Path(root)).workspace

    @property
    def names(self) -> tuple[str, ...]:
        """The normalized package names, sorted."""
        return tuple(p.normalized for p in self.packages)

    def package(self, name: str) -> Package:
        """The package named ``name``, in any spelling (``Acme_Core`` finds ``acme-core``)."""
        wanted = normalize_name(name)
        for package in self.packages:
            if package.normalized == wanted:
                return package
        raise UsageError(unknown_package_message(name, self.names))


def unknown_package_message(name: str, known: Sequence[str]) -> str:
    """One line for a package name that is not in the workspace, with the likely one."""
    if not known:
        return f"unknown package {name!r}: the workspace has none; check [tool.pubkit] packages"
    guess = difflib.get_close_matches(normalize_name(name), known, n=1)
    hint = f"did you mean {guess[0]!r}? " if guess else ""
    return f"unknown package {name!r}; {hint}known packages: {', '.join(known)}"


def build_workspace(
    root: Path | str,
    config: WorkspaceConfig,
    pyprojects: Mapping[PurePosixPath, Mapping[str, Any]],
) -> Workspace:
    """Assemble the workspace from parsed pyproject.toml files keyed by relative directory.

    ``pyprojects`` may hold more directories than the packages (the root's own, say): only
    those that ``config.packages`` matches become packages.
    """
    by_dir = {PurePosixPath(d): pyproject for d, pyproject in pyprojects.items()}
    matched = match_package_dirs(config.packages, by_dir, config.packages_exclude)
    packages = tuple(package_from_pyproject(d, by_dir[d]) for d in matched)
    return Workspace(root=Path(root), config=config, packages=packages)
