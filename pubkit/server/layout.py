"""Where a distribution and its companions live in storage, and the sidecar's format.

``<project>/<filename>``           the distribution's bytes (canonical filename: see
                                   DistributionFilename.canonical)
``<project>/<filename>.metadata``  its core metadata (PEP 658), for wheels and sdists
``<project>/<filename>.json``      the sidecar: what the catalog needs, and the commit record
``.staged/<sha256>-<nonce>``       an upload's bytes on their way to a taken key (see
                                   :mod:`pubkit.server.commit`)
``.access/<number>.json``          the access state (users, roles, tokens, private flags): see
                                   :mod:`pubkit.server.access_state`

The sidecar is written (create-if-absent) once the bytes are stored: its presence decides
whose file a filename is. ``pubkit index rebuild`` reads sidecars and never opens archives
(except to finish a commit that a crash interrupted). Keys whose first segment starts with a
dot are reserved for pubkit's own objects: a project name never starts with one.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from pubkit.core.distributions import (
    canonical_filename,
    is_valid_project_name,
    normalize_name,
    parse_distribution_filename,
)
from pubkit.errors import CatalogError, InvalidDistributionError

SIDECAR_SUFFIX = ".json"
METADATA_SUFFIX = ".metadata"
SIDECAR_FORMAT = 1
STAGING_PREFIX = ".staged/"
ACCESS_PREFIX = ".access/"  # access snapshots
# The catalog's limits (catalog/schema.py: String(255) columns), checked before anything is
# stored, so that SQLite and PostgreSQL accept the same records.
MAX_NAME_LENGTH = 255
MAX_VERSION_LENGTH = 255
MAX_REQUIRES_PYTHON_LENGTH = 1000
_HEX = {32: re.compile(r"^[0-9a-f]{32}$"), 64: re.compile(r"^[0-9a-f]{64}$")}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def file_key(project: str, filename: str) -> str:
    # Keyed by the canonical filename: two spellings of one distribution are one object.
    return f"{project}/{canonical_filename(filename)}"


def metadata_key(project: str, filename: str) -> str:
    return file_key(project, filename) + METADATA_SUFFIX


def sidecar_key(project: str, filename: str) -> str:
    return file_key(project, filename) + SIDECAR_SUFFIX


def staged_key(sha256: str) -> str:
    """A fresh key for one upload's bytes with this hash, before it owns its filename."""
    return f"{staged_prefix(sha256)}{secrets.token_hex(8)}"


def staged_prefix(sha256: str) -> str:
    return f"{STAGING_PREFIX}{sha256}-"


def staged_sha256(key: str) -> str | None:
    """The hash a staged key was named after, or None if ``key`` is not a staged key."""
    if not key.startswith(STAGING_PREFIX):
        return None
    digest = key[len(STAGING_PREFIX):].partition("-")[0]
    return digest if _HEX[64].match(digest) else None


def is_reserved(key: str) -> bool:
    """pubkit's own objects (staged uploads, …), never a project's file."""
    return key.startswith(".")


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


@dataclass(frozen=True)
class FileRecord:
    """One distribution as the catalog and the sidecar know it."""

    project: str  # normalized
    display_name: str  # the Name field of the metadata
    version: str
    filename: str
    packagetype: str
    size: int
    sha256: str
    md5: str
    blake2_256: str
    requires_python: str | None
    metadata_sha256: str | None
    upload_time: datetime
    uploader: str | None
    yanked: bool = False
    yanked_reason: str | None = None

    @property
    def is_wheel(self) -> bool:
        return self.packagetype == "bdist_wheel"

    def with_yank(self, yanked: bool, reason: str | None) -> FileRecord:
        return replace(self, yanked=yanked, yanked_reason=reason if yanked else None)

    def to_sidecar(self) -> bytes:
        data: dict[str, Any] = {"format": SIDECAR_FORMAT, **asdict(self)}
        data["upload_time"] = self.upload_time.isoformat()
        return json.dumps(data, sort_keys=True, indent=1).encode()

    @classmethod
    def from_sidecar(cls, raw: bytes) -> FileRecord:
        try:
            data = json.loads(raw)
            data.pop("format", None)
            data["upload_time"] = datetime.fromisoformat(data["upload_time"])
            return cls(**data)
        except (ValueError, KeyError, TypeError) as error:
            raise CatalogError(f"unreadable sidecar ({error}); restore it from a backup") from None


def check_record(record: FileRecord) -> None:
    """Refuse a record the catalog could not hold the same way on SQLite and PostgreSQL.

    Run on every upload before anything is stored, and on every sidecar a rebuild adopts."""

    def refuse(what: str) -> InvalidDistributionError:
        return InvalidDistributionError(f"{what}; fix the distribution's metadata and rebuild it")

    name = record.display_name
    if not is_valid_project_name(name) or len(name) > MAX_NAME_LENGTH:
        raise refuse(
            f"the project Name {name[:80]!r} is not a valid name: 1 to {MAX_NAME_LENGTH} ASCII"
            " letters, digits and . _ - (starting and ending with a letter or digit)"
        )
    if record.project != normalize_name(name):
        raise refuse(f"the project {record.project[:80]!r} is not the normalized Name {name!r}")
    version = record.version
    if len(version) > MAX_VERSION_LENGTH or version != version.strip() or _CONTROL.search(version):
        raise refuse(f"the Version {version[:80]!r} is too long, or has spaces or control"
                     " characters")  # fmt: skip
    try:
        Version(version)
    except InvalidVersion:
        raise refuse(f"the Version {version[:80]!r} is not a valid PEP 440 version") from None
    parsed = parse_distribution_filename(record.filename)
    if parsed.project != record.project or str(parsed.version) != str(Version(version)):
        raise refuse(f"the file {record.filename!r} is not {name} {version}")
    if record.packagetype != parsed.packagetype:
        raise refuse(f"the file type {record.packagetype!r} does not match {record.filename!r}")
    if record.size < 0:
        raise refuse("the file has a negative size")
    for label, value, width in (("sha256", record.sha256, 64), ("md5", record.md5, 32),
                                ("blake2_256", record.blake2_256, 64),
                                ("metadata sha256", record.metadata_sha256 or "0" * 64, 64)):
        if not _HEX[width].match(value):
            raise refuse(f"the {label} {value[:80]!r} is not a hex digest")  # fmt: skip
    requires = record.requires_python
    if requires is not None:
        if len(requires) > MAX_REQUIRES_PYTHON_LENGTH or _CONTROL.search(requires):
            raise refuse(
                f"Requires-Python {requires[:80]!r} is longer than {MAX_REQUIRES_PYTHON_LENGTH}"
                " characters or has control characters"
            )
        try:
            SpecifierSet(requires)
        except InvalidSpecifier:
            raise refuse(f"Requires-Python {requires[:80]!r} is not a version specifier") from None
    uploader = record.uploader
    if uploader is not None and (len(uploader) > MAX_NAME_LENGTH or _CONTROL.search(uploader)):
        raise refuse(f"the uploader {uploader[:80]!r} is not a valid user name")
    reason = record.yanked_reason
    if reason is not None and "\x00" in reason:
        raise refuse("the yank reason has a NUL character")
