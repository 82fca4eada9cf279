"""What to upload: compare the files we built with what the index already has. Pure.

A file the index has with the same sha256 is skipped (a re-run after a failure); a file the
index has with other bytes stops the release (files are immutable: it needs a new version).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from packaging.version import Version

from pubkit.core.distributions import parse_distribution_filename
from pubkit.errors import ConfigurationError, PubkitError
from pubkit.settings import redact_url


@dataclass(frozen=True)
class PublishDecision:
    upload: tuple[str, ...]
    already_there: tuple[str, ...]
    conflicts: tuple[str, ...]


def decide_uploads(local: Mapping[str, str], remote: Mapping[str, str]) -> PublishDecision:
    """``local`` and ``remote`` map filenames to sha256; names compare canonically."""
    by_canonical = {parse_distribution_filename(name).canonical: sha for name, sha in
                    remote.items()}  # fmt: skip
    upload, there, conflicts = [], [], []
    for filename, sha256 in sorted(local.items()):
        existing = by_canonical.get(parse_distribution_filename(filename).canonical)
        if existing is None:
            upload.append(filename)
        elif existing == sha256:
            there.append(filename)
        else:
            conflicts.append(filename)
    return PublishDecision(tuple(upload), tuple(there), tuple(conflicts))


def complete_versions(filenames: Iterable[str]) -> frozenset[Version]:
    """The versions among ``filenames`` that have both an sdist and a wheel: what a release
    publishes. A version with only one of them was left half-way by an interrupted upload."""
    kinds: dict[Version, set[bool]] = {}
    for filename in filenames:
        try:
            parsed = parse_distribution_filename(filename)
        except PubkitError:
            continue
        kinds.setdefault(parsed.version, set()).add(parsed.is_wheel)
    return frozenset(version for version, found in kinds.items() if found == {True, False})


def upload_url_for(index_url: str) -> str:
    """The legacy upload URL of an index whose simple API is at ``index_url``.

    pubkit, pypiserver and PyPI-like servers take uploads at the root above ``/simple/``.
    """
    parts = urlsplit(index_url)
    path = parts.path.rstrip("/")
    if not path.endswith("/simple"):
        raise ConfigurationError(
            f"cannot tell the upload URL of {redact_url(index_url)} (it does not end in"
            " /simple/); set PUBKIT_UPLOAD_URL (or --upload-url)"
        )
    return urlunsplit(parts._replace(path=path[: -len("simple")], query="", fragment=""))
