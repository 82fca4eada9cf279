"""Keeping lock files true to the versions a release writes: ``uv.lock``, ``poetry.lock`` and
``pdm.lock`` record the version of each workspace (path, editable) package they hold, and a
release commit that moved those versions without them leaves ``uv lock --check`` failing.

Only entries that come from a local path are edited, with tomlkit (formatting kept): a
package resolved from an index is a released version and stays as it is. Nothing is
resolved again, so no network and no lock tool are needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import tomlkit

from pubkit.core.distributions import normalize_name
from pubkit.releasing.version_files import write_atomic

LOCK_FILES = ("uv.lock", "poetry.lock", "pdm.lock")


def _is_local(package: Mapping[str, Any]) -> bool:
    """Whether a lock entry is a workspace/path package rather than one from an index."""
    source = package.get("source")
    if isinstance(source, Mapping):
        # uv: {editable = ...} / {virtual = ...} / {directory = ...}; poetry: type = "directory"
        if source.keys() & {"editable", "virtual", "directory"}:
            return True
        return source.get("type") == "directory"
    return "path" in package or bool(package.get("editable"))  # pdm


def lock_files(root: Path, package_dirs: Iterable[Path]) -> list[Path]:
    """The lock files at the root and in each package directory."""
    found: dict[Path, None] = {}
    for directory in (root, *package_dirs):
        for name in LOCK_FILES:
            if (directory / name).is_file():
                found[directory / name] = None
    return list(found)


def update_lock(path: Path, versions: Mapping[str, str]) -> bool:
    """Set the version of each local package of ``versions`` (name -> version) in the lock
    file ``path``; True when it changed."""
    wanted = {normalize_name(name): version for name, version in versions.items()}
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    changed = False
    packages = document.get("package", [])
    for package in packages if isinstance(packages, list) else []:
        name = package.get("name")
        if not isinstance(name, str) or "version" not in package or not _is_local(package):
            continue
        version = wanted.get(normalize_name(name))
        if version is not None and package["version"] != version:
            package["version"] = version
            changed = True
    if changed:
        write_atomic(path, tomlkit.dumps(document))
    return changed
