"""Writing a new version, and widened internal requirements, back into a package's files.

Keeps every file's formatting: pyproject.toml goes through tomlkit (comments, order, quotes
survive), version files get a single targeted substitution. Each write is atomic.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import tomlkit
from packaging.requirements import InvalidRequirement, Requirement

from pubkit.core.distributions import normalize_name
from pubkit.errors import ConfigurationError
from pubkit.releasing.core.version_sources import semver_from_pep440
from pubkit.releasing.core.workspace import Package, Workspace
from pubkit.releasing.workspace_files import version_file, version_span


def write_atomic(path: Path, text: str) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        Path(temp).chmod(path.stat().st_mode & 0o7777)  # else mkstemp's 0600 would stick
        Path(temp).replace(path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_version(workspace: Workspace, package: Package, version: str) -> list[Path]:
    """Set ``package``'s version to ``version`` where it is declared; the files changed."""
    source = package.version_source
    if source.kind == "vcs":
        raise ConfigurationError(
            f"{package.name} takes its version from git tags; pubkit cannot write it"
        )
    if source.kind == "static":
        pyproject = workspace.root / package.path / "pyproject.toml"
        document = tomlkit.parse(pyproject.read_text(encoding="utf-8"))
        document["project"]["version"] = version
        write_atomic(pyproject, tomlkit.dumps(document))
        return [pyproject]
    path = version_file(workspace, package)
    assert path is not None
    if source.kind == "cargo":
        # maturin turns Cargo's semver into the wheel's PEP 440 version; this is the inverse.
        document = tomlkit.parse(path.read_text(encoding="utf-8"))
        document["package"]["version"] = semver_from_pep440(version)
        write_atomic(path, tomlkit.dumps(document))
        return [path]
    text = path.read_text(encoding="utf-8")
    start, end = version_span(package, path, text)
    write_atomic(path, text[:start] + version + text[end:])
    return [path]


def widen_requirements(
    workspace: Workspace, package: Package, widened: Mapping[str, str]
) -> Path | None:
    """Replace the requirements on the packages in ``widened`` (name -> new requirement
    string) in ``[project] dependencies`` and optional dependencies; the file, if changed."""
    if not widened:
        return None
    wanted = {normalize_name(name): text for name, text in widened.items()}
    path = workspace.root / package.path / "pyproject.toml"
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    project = document["project"]
    arrays = [project.get("dependencies", [])]
    arrays += list(project.get("optional-dependencies", {}).values())
    changed = False
    for array in arrays:
        for index, item in enumerate(list(array)):
            try:
                requirement = Requirement(str(item))
            except InvalidRequirement:
                continue
            replacement = wanted.get(normalize_name(requirement.name))
            if replacement is None:
                continue
            # Keep the name, extras and marker as written on this line; only the specifier
            # changes.
            new = Requirement(replacement)
            new.name, new.extras, new.marker = requirement.name, requirement.extras, None
            _head, semicolon, marker = str(item).partition(";")
            text = _format(new) + semicolon + marker
            if text != str(item):
                array[index] = text
                changed = True
    if changed:
        write_atomic(path, tomlkit.dumps(document))
        return path
    return None


def _format(requirement: Requirement) -> str:
    from pubkit.releasing.core.versioning import format_requirement

    return format_requirement(requirement)
