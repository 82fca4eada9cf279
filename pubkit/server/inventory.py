"""What storage holds, from one listing pass: each distribution's bytes, metadata and sidecar,
the staged uploads, and how to finish a commit that a crash interrupted.

Shared by ``pubkit index rebuild`` (admin.py), ``pubkit index verify`` (verify.py) and the
upload path (commit.py), so that all three read storage by the same rules; and each project's
description (summary, "depends on") read again from its newest release's stored metadata.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

from pubkit.core.distributions import parse_distribution_filename
from pubkit.errors import NotFoundError, PubkitError
from pubkit.server.layout import (
    METADATA_SUFFIX,
    SIDECAR_SUFFIX,
    FileRecord,
    file_key,
    is_reserved,
    metadata_key,
    staged_sha256,
)
from pubkit.server.storage import Storage, StoredObject

if TYPE_CHECKING:
    from pubkit.server.catalog import Catalog


@dataclass
class Entry:
    """One distribution's objects in storage, keyed by the file's key."""

    key: str
    size: int | None = None  # of the bytes; None when they are absent
    metadata: bool = False
    sidecar: bool = False
    modified: datetime | None = None  # the newest of its objects


@dataclass
class Inventory:
    entries: dict[str, Entry] = field(default_factory=dict)
    staged: dict[str, list[StoredObject]] = field(default_factory=lambda: defaultdict(list))
    # Reserved keys that are not staged uploads (pubkit's other records): not files.
    other: list[StoredObject] = field(default_factory=list)


def take_inventory(storage: Storage) -> Inventory:
    inventory = Inventory()
    for obj in storage.list():
        if is_reserved(obj.key):
            digest = staged_sha256(obj.key)
            if digest is None:
                inventory.other.append(obj)
            else:
                inventory.staged[digest].append(obj)
            continue
        if obj.key.endswith(SIDECAR_SUFFIX):
            entry = _entry(inventory, obj.key[: -len(SIDECAR_SUFFIX)], obj)
            entry.sidecar = True
        elif obj.key.endswith(METADATA_SUFFIX):
            entry = _entry(inventory, obj.key[: -len(METADATA_SUFFIX)], obj)
            entry.metadata = True
        else:
            entry = _entry(inventory, obj.key, obj)
            entry.size = obj.size
    return inventory


def _entry(inventory: Inventory, key: str, obj: StoredObject) -> Entry:
    entry = inventory.entries.get(key)
    if entry is None:
        entry = inventory.entries[key] = Entry(key)
    if obj.modified is not None and (entry.modified is None or obj.modified > entry.modified):
        entry.modified = obj.modified
    return entry


def sha256_of(storage: Storage, key: str) -> str:
    digest = hashlib.sha256()
    with storage.open(key) as stream:
        for chunk in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def downloaded(storage: Storage, key: str, tmp_dir: Path | None) -> Iterator[tuple[Path, str]]:
    """A local copy of ``key`` and its sha256, removed afterwards."""
    if tmp_dir is not None:
        tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="verify-", suffix=".part")
    path = Path(name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, storage.open(key) as stream:
            for chunk in iter(lambda: stream.read(1024 * 1024), b""):
                digest.update(chunk)
                out.write(chunk)
        yield path, digest.hexdigest()
    finally:
        path.unlink(missing_ok=True)


def complete(
    storage: Storage, record: FileRecord, entry: Entry, staged: list[StoredObject],
    tmp_dir: Path | None = None,
) -> str | None:  # fmt: skip
    """Make a committed file (its sidecar is ``record``) whole, if storage allows; None when
    it is whole, else what is wrong with it.

    - Staged bytes with the sidecar's hash: the commit was interrupted before its bytes
      reached the file's key: they are copied there, the metadata is written, the staged
      objects removed (what the uploader would have done next).
    - Bytes absent or of another size: nothing to do here; an identical re-upload restores
      them.
    - Metadata absent: read again out of the bytes, once their hash is checked.
    """
    final = file_key(record.project, record.filename)
    for obj in staged:
        try:
            with downloaded(storage, obj.key, tmp_dir) as (path, digest):
                if digest != record.sha256:
                    continue  # not what its name says: left for verify to report
                storage.replace(final, path)
                problem = _write_metadata(storage, record, path)
        except NotFoundError:
            continue  # its uploader finished meanwhile and removed it
        if problem is not None:
            return problem
        for done in staged:
            storage.delete(done.key)
        return None
    if entry.size is None:
        return "its bytes are missing; upload the identical file again to restore them"
    if entry.size != record.size:
        return (f"its bytes are {entry.size} bytes long but its sidecar says {record.size};"
                " upload the identical file again to restore them")  # fmt: skip
    if not entry.metadata:
        with downloaded(storage, final, tmp_dir) as (path, digest):
            if digest != record.sha256:
                return ("its bytes do not match its sidecar's sha256; upload the identical"
                        " file again to restore them")  # fmt: skip
            return _write_metadata(storage, record, path)
    return None


def _write_metadata(storage: Storage, record: FileRecord, path: Path) -> str | None:
    from pubkit.server.archives import read_core_metadata

    try:
        raw = read_core_metadata(path, parse_distribution_filename(record.filename)).raw
    except PubkitError as error:
        return f"its core metadata cannot be read again: {error}"
    if record.metadata_sha256 is not None and (
        hashlib.sha256(raw).hexdigest() != record.metadata_sha256
    ):
        return "its core metadata does not match the sidecar's metadata_sha256"
    storage.put_bytes(metadata_key(record.project, record.filename), raw)
    return None



def describe_projects(
    storage: Storage, catalog: Catalog, records: Iterable[FileRecord]
) -> tuple[int, list[str]]:
    """Give each project of ``records`` the summary and "depends on" of its newest release
    (its newest version's file uploaded last: what the uploads left), read out of that
    file's stored core metadata as the upload reads it; for ``index rebuild``, ``verify
    --repair`` and a deleted release. How many projects changed, and "key: why" for each
    metadata that could not be read (its project keeps what it had)."""
    from pubkit.server.archives import parse_core_metadata
    from pubkit.server.catalog.web import Description
    from pubkit.server.catalog.web import describe_projects as record

    newest: dict[str, tuple[Version, datetime, FileRecord]] = {}
    for item in records:
        try:
            rank = (Version(item.version), item.upload_time, item)
        except InvalidVersion:
            continue
        if item.project not in newest or rank[:2] > newest[item.project][:2]:
            newest[item.project] = rank
    descriptions, problems = [], []
    for project, (_version, _time, item) in sorted(newest.items()):
        key = metadata_key(item.project, item.filename)
        try:
            metadata = parse_core_metadata(storage.read_bytes(key))
        except PubkitError as error:
            problems.append(f"{key}: its summary and requirements cannot be read ({error});"
                            " `pubkit index verify --deep --repair` reads it again")  # fmt: skip
            continue
        descriptions.append(Description(project, item.version, metadata.summary,
                                        metadata.requires))  # fmt: skip
    return record(catalog, descriptions), problems
