"""Reading a workspace from disk: the root config, each package's pyproject.toml, and the
version files of packages whose version is dynamic. Deciding stays in :mod:`pubkit.core`."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.requirements import Requirement

from pubkit.core.distributions import normalize_name
from pubkit.errors import ConfigurationError
from pubkit.releasing.core.testenv import RequirementLines, parse_requirement_lines, settings_of
from pubkit.releasing.core.version_sources import pep440_from_semver
from pubkit.releasing.core.workspace import (
    ROOT,
    Package,
    Workspace,
    build_workspace,
    match_package_dirs,
    parse_config,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SKIPPED_DIRS = {".git", ".venv", "venv", "node_modules", "build", "dist", "__pycache__", ".tox"}


@dataclass(frozen=True)
class LoadedWorkspace:
    workspace: Workspace
    warnings: tuple[str, ...]


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except FileNotFoundError:
        raise ConfigurationError(f"{path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"{path} is not valid TOML: {error}; fix the file") from None


def _config_table(root: Path) -> tuple[dict[str, Any], str, dict[str, Any] | None]:
    """(the pubkit table, how messages name it, the root's parsed pyproject.toml or None)."""
    pyproject = root / "pyproject.toml"
    root_pyproject = read_toml(pyproject) if pyproject.is_file() else None
    standalone = root / "pubkit.toml"
    if standalone.is_file():
        return read_toml(standalone), "pubkit.toml", root_pyproject
    if root_pyproject is not None:
        table = root_pyproject.get("tool", {}).get("pubkit")
        if isinstance(table, dict):
            return table, "[tool.pubkit]", root_pyproject
    raise ConfigurationError(
        f"{root} has no [tool.pubkit] table in pyproject.toml and no pubkit.toml;"
        " run `pubkit init` there to write one"
    )


def _package_dirs(
    root: Path, globs: tuple[str, ...], exclude: tuple[str, ...]
) -> list[PurePosixPath]:
    candidates = []
    for pattern in globs:
        if PurePosixPath(pattern) == ROOT:
            # pathlib cannot glob "." (IndexError on 3.11): the root is named, not searched.
            if (root / "pyproject.toml").is_file():
                candidates.append(ROOT)
            continue
        for path in root.glob(pattern):
            relative = path.relative_to(root)
            if any(part in SKIPPED_DIRS or part.startswith(".") for part in relative.parts):
                continue
            if (path / "pyproject.toml").is_file():
                candidates.append(PurePosixPath(relative.as_posix()))
    return match_package_dirs(globs, sorted(set(candidates)), exclude)


def load_workspace(root: Path) -> LoadedWorkspace:
    """The workspace at ``root`` (its config and packages), with configuration warnings."""
    root = root.resolve()
    table, source, root_pyproject = _config_table(root)
    config, warnings = parse_config(table, source=source, root_pyproject=root_pyproject)
    directories = _package_dirs(root, config.packages, config.packages_exclude)
    if not directories:
        where = source if config.packages_source == "packages" else config.packages_source
        raise ConfigurationError(
            f"no package matches {list(config.packages)} under {root}; fix `packages` in {where}"
        )
    pyprojects = {d: read_toml(root / d / "pyproject.toml") for d in directories}
    workspace = _with_test_requirements(build_workspace(root, config, pyprojects))
    return LoadedWorkspace(workspace, tuple(warnings))


def _with_test_requirements(workspace: Workspace) -> Workspace:
    """The workspace, each package holding what its test requirements files ask for."""
    packages = []
    for package in workspace.packages:
        settings = settings_of(workspace.config, package)
        requirements: list[Requirement] = []
        constraints: list[str] = []
        for relative in () if settings.skip else settings.requirements:
            path = workspace.root / package.path / relative
            lines = _read_requirements(workspace, path, set())
            requirements += lines.requirements
            constraints += lines.constraints
        packages.append(replace(package, test_requirements=tuple(requirements),
                                test_constraints=tuple(constraints)))  # fmt: skip
    return Workspace(workspace.root, workspace.config, tuple(packages))


def _read_requirements(workspace: Workspace, path: Path, seen: set[Path]) -> RequirementLines:
    """A requirements file and the ones it includes; constraints files' lines come back as
    constraints (internal names left out: those are pinned anyway)."""
    if path in seen:
        return RequirementLines()
    seen.add(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(
            f"cannot read test requirements {path}: {error.strerror or error}; fix"
            " [tool.pubkit.test] requirements"
        ) from None
    directories = {(workspace.root / p.path).resolve(): p.normalized for p in workspace.packages}

    def path_name(local: str) -> str | None:
        return directories.get((path.parent / local).resolve())

    lines = parse_requirement_lines(text, str(path), path_name)
    requirements = list(lines.requirements)
    constraints: list[str] = []
    for include in lines.includes:
        nested = _read_requirements(workspace, path.parent / include, seen)
        requirements += nested.requirements
        constraints += nested.constraints
    for constraint_file in lines.constraints:
        nested = _read_requirements(workspace, path.parent / constraint_file, seen)
        constraints += [str(r) for r in nested.requirements
                        if normalize_name(r.name) not in workspace.names]  # fmt: skip
    return RequirementLines(tuple(requirements), (), tuple(constraints))


# `NAME = "1.2.3"` (optionally annotated `: str`); the version is the group named "version",
# as in hatch's own patterns, so a project's custom pattern works the same way.
_ASSIGNMENT = r"""^\s*{name}\s*(?::\s*str\s*)?=\s*['"](?P<version>[^'"]+)['"]"""


def version_file(workspace: Workspace, package: Package) -> Path | None:
    """The file that declares a dynamic version (the first candidate that exists)."""
    base = workspace.root / package.path
    for relative in package.version_source.files:
        if (base / relative).is_file():
            return base / relative
    if package.version_source.kind in ("python", "text", "cargo"):
        listed = ", ".join(str(base / f) for f in package.version_source.files)
        raise ConfigurationError(f"{package.name}: no version file found (looked at {listed})")
    return None


def version_span(package: Package, path: Path, text: str) -> tuple[int, int]:
    """Where in ``text`` (the content of ``path``) the version string is: one place for
    reading it and for writing a new one."""
    source = package.version_source
    if source.kind == "text":
        stripped = text.strip()
        start = text.index(stripped) if stripped else 0
        return start, start + len(stripped)
    patterns = (
        [source.pattern]
        if source.pattern
        else [_ASSIGNMENT.format(name=re.escape(attribute)) for attribute in source.attributes]
    )
    for pattern in patterns:
        match = re.search(pattern, text, re.MULTILINE)
        if match:
            group = "version" if "version" in match.groupdict() else 1
            return match.span(group)
    raise ConfigurationError(
        f"{path} declares no version ({' or '.join(source.attributes)}); add one"
    )


def read_version(workspace: Workspace, package: Package) -> str | None:
    """The version as declared (static, or read from its version file); None if set by VCS."""
    source = package.version_source
    if source.kind == "static":
        return package.version
    if source.kind == "vcs":
        return None
    path = version_file(workspace, package)
    if source.kind == "cargo":
        assert path is not None
        return pep440_from_semver(cargo_version(path), str(path))
    assert path is not None
    text = path.read_text(encoding="utf-8")
    start, end = version_span(package, path, text)
    return text[start:end]


def cargo_version(path: Path) -> str:
    """``[package] version`` of a Cargo.toml, as written (semver)."""
    package = read_toml(path).get("package")
    version = package.get("version") if isinstance(package, dict) else None
    if isinstance(version, dict) and version.get("workspace") is True:
        raise ConfigurationError(
            f"{path} inherits its version from the Cargo workspace (version.workspace = true);"
            " pubkit reads and writes [package] version only: set it there"
        )
    if not isinstance(version, str):
        raise ConfigurationError(f'{path} has no [package] version; add version = "0.1.0"')
    return version
