"""Where a distribution and its companions live in storage, and the sidecar's format.

``<project>/<filename>``           the distribution's bytes (canonical filename: see
                                   DistributionFilename.canonical)
``<project>/<filename>.metadata``  its core metadata (PEP 658), for wheels and sdists
``<project>/<filename>.json``      the sidecar: what the catalog needs, written last

A sidecar is written only after the bytes and the metadata are stored, so its presence means
the file is complete; ``pubkit index rebuild`` reads sidecars and never opens archives.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import Any

from pubkit.core.distributions import canonical_filename
from pubkit.errors import CatalogError

SIDECAR_SUFFIX = ".json"
METADATA_SUFFIX = ".metadata"
SIDECAR_FORMAT = 1


def file_key(project: str, filename: str) -> str:
    # Keyed by the canonical filename: two spellings of one distribution are one object.
    return f"{project}/{canonical_filename(filename)}"


def metadata_key(project: str, filename: str) -> str:
    return file_key(project, filename) + METADATA_SUFFIX


def sidecar_key(project: str, filename: str) -> str:
    return file_key(project, filename) + SIDECAR_SUFFIX


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
