"""What each file of a pypiserver directory or a pypicloud bucket is, judged by its path (pure).

**pypiserver** serves every file under its package directories, walked recursively: a flat
directory of distributions, or one subdirectory per project (it reads the project's name and
version from the filename and ignores the directory's name), skipping names that start with a
dot. It accepts more archive types than pubkit serves (``.zip``, ``.tar.bz2``, ``.egg``, …).

**pypicloud**'s S3 storage keeps a distribution at ``<prefix><hash>/<name>/<filename>``, where
``<hash>`` is the first four hex digits of the MD5 of the filename (``storage.prepend_hash``,
on by default) — or at ``<prefix><name>/<filename>`` without it — with the object metadata
``name``, ``version`` and ``summary`` (newer versions add ``hash_sha256`` and ``hash_md5``).
pypicloud lists a file under its metadata ``name``, or, when that is missing (files of early
versions), under the name in the filename.

pubkit files a distribution under the name in its filename and in its metadata, which must
agree (:func:`pubkit.server.archives.read_core_metadata`); where the old index listed it under
another name, the migration says so.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass

from pubkit.core.distributions import normalize_name, parse_distribution_filename
from pubkit.errors import InvalidDistributionError

# Archive types pypiserver serves that are not wheels or .tar.gz sdists.
OTHER_ARCHIVES = (".zip", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tgz", ".egg", ".exe", ".msi",
                  ".rpm", ".deb", ".dmg")  # fmt: skip
UNSUPPORTED = "pubkit serves only wheels (.whl) and .tar.gz sdists; it stays behind"


@dataclass(frozen=True)
class Candidate:
    """A file to migrate: where it is, its filename, and the project (and version) the old
    index listed it under, when the layout says."""

    location: str
    filename: str
    listed_name: str | None = None
    listed_version: str | None = None
    listed_sha256: str | None = None
    size: int | None = None
    # The MD5 of the bytes when the source knows it without reading them (an S3 ETag of a
    # single-part upload): a re-run finds what pubkit has without downloading it again.
    md5: str | None = None

    def listing_mismatch(self) -> str | None:
        """How the old index's listing disagrees with the filename; None when it does not."""
        parsed = parse_distribution_filename(self.filename)
        if self.listed_name and normalize_name(self.listed_name) != parsed.project:
            return (f"listed under {self.listed_name!r}, but it is {parsed.project!r} by its"
                    f" filename and metadata: filed under {parsed.project}")  # fmt: skip
        if self.listed_version and _version_differs(self.listed_version, str(parsed.version)):
            return (f"listed as version {self.listed_version!r}, but it is {parsed.version} by"
                    " its filename and metadata")  # fmt: skip
        return None


def _version_differs(listed: str, actual: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(listed) != Version(actual)
    except InvalidVersion:
        return True


@dataclass(frozen=True)
class Skip:
    """A file that is not migrated; ``refused``: it is a distribution that should have been
    (a failure), else it is not one pubkit serves (a note)."""

    location: str
    reason: str
    refused: bool = False


def judge_filename(location: str, filename: str) -> Skip | None:
    """Why the file at ``location`` is not migrated; None when it is a wheel or an sdist."""
    try:
        parse_distribution_filename(filename)
    except InvalidDistributionError as error:
        if filename.endswith((".whl", ".tar.gz")):
            return Skip(location, error.message, refused=True)
        if filename.lower().endswith(OTHER_ARCHIVES):
            return Skip(location, UNSUPPORTED)
        return Skip(location, "not a distribution")
    return None


def pypiserver_entry(relative: str, size: int | None = None) -> Candidate | Skip:
    """A file of a pypiserver package directory, by its path relative to that directory."""
    parts = relative.split("/")
    if any(part.startswith(".") for part in parts):
        return Skip(relative, "a hidden file, which pypiserver does not serve")
    skip = judge_filename(relative, parts[-1])
    if skip is not None:
        return skip
    # In pypiserver's per-project layout (<root>/<project>/<file>) the directory names the
    # project the team meant; deeper trees are the team's own filing, which names nothing.
    return Candidate(relative, parts[-1], listed_name=parts[0] if len(parts) == 2 else None,
                     size=size)  # fmt: skip


def pypicloud_entry(
    key: str, metadata: Mapping[str, str], size: int | None = None, etag: str | None = None
) -> Candidate | Skip:
    """An object of pypicloud's bucket, by its key below the prefix and its user metadata."""
    filename = posixpath.basename(key)
    if not filename:
        return Skip(key, "a folder marker, not a file")
    skip = judge_filename(key, filename)
    if skip is not None:
        return skip
    parts = key.split("/")
    listed = metadata.get("name") or (parts[-2] if len(parts) >= 2 else None)
    sha256 = (metadata.get("hash_sha256") or "").strip().lower() or None
    return Candidate(key, filename, listed_name=listed, listed_version=metadata.get("version"),
                     listed_sha256=sha256, size=size, md5=etag_md5(etag))  # fmt: skip


def etag_md5(etag: str | None) -> str | None:
    """The MD5 an S3 ETag is, for an object stored in one part (a multipart upload's ETag,
    ``<hex>-<parts>``, is not the MD5 of the object, nor is an SSE-KMS object's)."""
    value = (etag or "").strip('"').lower()
    return value if len(value) == 32 and all(c in "0123456789abcdef" for c in value) else None
