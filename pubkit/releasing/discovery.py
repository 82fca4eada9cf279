"""Finding the packages of a monorepo on disk, for ``pubkit init``: a walk that reads every
``pyproject.toml`` below the root (and the root's own), and the choice of what pubkit can
release among them, with the reason for what it leaves out. Reads only."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pubkit.errors import ConfigurationError
from pubkit.releasing.core.workspace import ROOT, Package, package_from_pyproject
from pubkit.releasing.workspace_files import SKIPPED_DIRS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

PYPROJECT = "pyproject.toml"
# Never walked into: they hold installed or generated copies of packages, not sources.
# The loader skips SKIPPED_DIRS and hidden directories too, so neither side sees them.
NOT_WALKED = SKIPPED_DIRS | {"site-packages", "__pypackages__"}


@dataclass(frozen=True)
class Discovery:
    """What a walk below the workspace root found.

    ``packages``: directory -> its parsed pyproject.toml, for those with a ``[project]``
    table. ``others``: directories the loader would look at (a pyproject.toml, not hidden or
    skipped) that are not packages. ``warnings``: pyproject.toml files that could not be read.
    """

    packages: Mapping[PurePosixPath, Mapping[str, Any]]
    others: tuple[PurePosixPath, ...] = ()
    warnings: tuple[str, ...] = ()
    root: Mapping[str, Any] | None = None  # the root's own pyproject.toml, when readable


def _walked(entry: os.DirEntry[str]) -> bool:
    if entry.name.startswith(".") or entry.name in NOT_WALKED or entry.is_symlink():
        # Symlinks are looked at but not followed: they can loop or leave the repository.
        return False
    return not (Path(entry.path) / "pyvenv.cfg").is_file()


def _seen_by_loader(name: str) -> bool:
    """Whether the loader considers a directory of this name (see workspace_files)."""
    return not name.startswith(".") and name not in SKIPPED_DIRS


def discover(root: Path) -> Discovery:
    """Every directory below ``root`` (not ``root`` itself) whose pyproject.toml has a
    ``[project]`` table, without entering hidden, virtualenv, build or dist directories."""
    packages: dict[PurePosixPath, Mapping[str, Any]] = {}
    others: list[PurePosixPath] = []
    warnings: list[str] = []
    pending = [PurePosixPath()]
    while pending:
        relative = pending.pop()
        try:
            with os.scandir(root / relative) as scan:
                entries = sorted((e for e in scan if e.is_dir()), key=lambda e: e.name)
        except OSError as error:
            warnings.append(f"skipped {relative}: {error.strerror or error}")
            continue
        for entry in entries:
            child = relative / entry.name
            walked = _walked(entry)
            if walked:
                pending.append(child)
            pyproject = Path(entry.path) / PYPROJECT
            if not _seen_by_loader(entry.name) or not pyproject.is_file():
                continue
            data = _read_pyproject(pyproject, child, warnings)
            if walked and data is not None and "project" in data:
                packages[child] = data
            else:
                others.append(child)
    root_data = None
    if (root / PYPROJECT).is_file():
        root_data = _read_pyproject(root / PYPROJECT, ROOT, warnings)
        if root_data is not None and "project" in root_data:
            packages[ROOT] = root_data  # a root package (sqlfluff: ".", "plugins/*")
    ordered = {d: packages[d] for d in sorted(packages, key=lambda p: p.parts)}
    return Discovery(
        ordered, tuple(sorted(others, key=lambda p: p.parts)), tuple(warnings), root_data
    )


def _read_pyproject(
    path: Path, relative: PurePosixPath, warnings: list[str]
) -> dict[str, Any] | None:
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not valid TOML"
        warnings.append(f"skipped {relative / PYPROJECT}: {reason}")
        return None


# Directories that hold examples, documentation or test fixtures, not packages to release.
EXAMPLE_DIRS = frozenset({"docs", "doc", "examples", "example", "tests", "test", "testdata",
                          "fixtures", "benchmarks", "samples", "templates"})  # fmt: skip


def _releasable_root(pyproject: Mapping[str, Any]) -> bool:
    """Whether the root's own [project] is a package to release rather than the workspace's
    tooling (a virtual uv workspace root, a placeholder version)."""
    project = pyproject.get("project")
    tool = pyproject.get("tool")
    uv = tool.get("uv") if isinstance(tool, Mapping) else None
    if isinstance(uv, Mapping) and uv.get("package") is False:
        return False
    version = project.get("version") if isinstance(project, Mapping) else None
    return "build-system" in pyproject and version not in ("0", "0.0", "0.0.0")


def choose_packages(
    found: Mapping[PurePosixPath, Mapping[str, Any]],
) -> tuple[list[Package], list[tuple[PurePosixPath, str]]]:
    """The packages pubkit can release among ``found`` (directory -> pyproject.toml), and the
    directories left out with the reason: under docs/, examples/, tests/ and the like; not
    loadable (an unsupported version source, say); or a second package of the same name
    (the one nearer the root is kept)."""
    packages: dict[str, Package] = {}
    skipped: list[tuple[PurePosixPath, str]] = []
    for directory in sorted(found, key=lambda d: (len(d.parts), d.parts)):
        if directory == ROOT and not _releasable_root(found[directory]):
            skipped.append((directory, 'the root\'s [project] looks like workspace tooling (no'
                            ' [build-system], version "0", or [tool.uv] package = false); add'
                            ' "." to packages to release it'))  # fmt: skip
            continue
        inside = EXAMPLE_DIRS.intersection(directory.parts)
        if inside:
            skipped.append((directory, f"under {sorted(inside)[0]}/: an example or fixture"))
            continue
        try:
            package = package_from_pyproject(directory, found[directory])
        except ConfigurationError as error:
            skipped.append((directory, error.message))
            continue
        first = packages.get(package.normalized)
        if first is not None:
            skipped.append((directory, f"{package.normalized} is already at {first.path}"))
            continue
        packages[package.normalized] = package
    ordered = sorted(packages.values(), key=lambda p: p.path.parts)
    return ordered, sorted(skipped, key=lambda item: item[0].parts)
