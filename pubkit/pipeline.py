"""Running release steps through the adapters: the one sequencer of side effects.

Today: the publish step. (Versioning, testing, tagging and the whole ``release`` follow.)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pubkit.adapters.index_client import IndexReader
from pubkit.adapters.publisher import PublishError, TwinePublisher
from pubkit.core.distributions import parse_distribution_filename
from pubkit.core.publishing import decide_uploads
from pubkit.errors import PubkitError


@dataclass(frozen=True)
class PublishResult:
    package: str
    uploaded: tuple[str, ...]
    already_there: tuple[str, ...]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _distributions(dist_dir: Path, package: str) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in sorted(dist_dir.glob("*")) if dist_dir.is_dir() else []:
        try:
            parsed = parse_distribution_filename(path.name)
        except PubkitError:
            continue
        if parsed.project == package:
            files[path.name] = path
    return files


def publish_package(
    package: str, dist_dir: Path, index: IndexReader, publisher: TwinePublisher
) -> PublishResult:
    """Upload what the index lacks of ``dist_dir``: sdists first, identical files skipped."""
    local = _distributions(dist_dir, package)
    if not local:
        raise PublishError(
            f"no distributions of {package} in {dist_dir}; run `pubkit build {package}` first"
        )
    decision = decide_uploads(
        {name: sha256_of(path) for name, path in local.items()}, index.project(package).files
    )
    if decision.conflicts:
        raise PublishError(
            f"{', '.join(decision.conflicts)} already on the index with other content; files"
            " are immutable: bump the version of " + package
        )
    # The sdist first: an index that has a wheel but no sdist is the worse half-state.
    ordered = sorted(decision.upload, key=lambda name: not name.endswith(".tar.gz"))
    publisher.upload([local[name] for name in ordered])
    return PublishResult(package, tuple(ordered), decision.already_there)
