"""How an upload's bytes become a file of the index: the storage half of an upload.

The sidecar is the commit record. Whoever creates it (create-if-absent) owns the filename;
bytes without a sidecar are an orphan that never blocks anyone:

1. the bytes go to the file's key with ``put_new``; if that key is taken (an orphan of a
   crashed upload, or a racer's bytes), to a fresh staged key instead (``.staged/<sha256>-…``);
2. the sidecar is created with ``put_new``: the commit. Losing it means another upload
   committed first: an identical one is adopted (its missing parts restored), a different
   one refuses this upload, whose staged object is removed, leaving storage as it was;
3. the winner, if it had to stage, replaces the file's key with its own bytes (an orphan's
   or a losing racer's are overwritten), writes the metadata and removes its staged object.

A crash before 2 leaves orphans; after 2, a sidecar whose staged bytes (or missing metadata)
``pubkit index rebuild`` and ``verify --repair`` finish (:func:`inventory.complete`), as an
identical re-upload does (:func:`restore`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from pubkit.errors import CatalogError, NotFoundError, PubkitError, StorageError
from pubkit.server import spool
from pubkit.server.inventory import sha256_of
from pubkit.server.layout import (
    FileRecord,
    file_key,
    metadata_key,
    sidecar_key,
    staged_key,
    staged_prefix,
)
from pubkit.server.storage import Storage


def read_committed(storage: Storage, project: str, filename: str) -> FileRecord | None:
    """The sidecar of this filename: the file that owns it, or None if none does."""
    try:
        raw = storage.read_bytes(sidecar_key(project, filename))
    except NotFoundError:
        return None
    try:
        return FileRecord.from_sidecar(raw)
    except CatalogError:
        raise StorageError(
            f"the sidecar of {filename} is unreadable; run `pubkit index verify` and restore it"
            " from a backup"
        ) from None


def commit(
    storage: Storage, record: FileRecord, spool: Path, metadata: bytes, spool_dir: Path
) -> tuple[FileRecord, bool]:
    """Store one upload; return the committed record and whether this upload created it.

    The record returned is another upload's when that one committed first: the caller
    compares hashes (a different one is a conflict, and storage is then as it was)."""
    final = file_key(record.project, record.filename)
    created: list[str] = []
    staged: str | None = None
    try:
        if storage.put_new(final, spool):
            created.append(final)
        else:
            staged = staged_key(record.sha256)
            storage.put_new(staged, spool)
            created.append(staged)
        won = put_new_bytes(storage, sidecar_key(record.project, record.filename),
                             record.to_sidecar(), spool_dir)  # fmt: skip
    except StorageError:
        _undo(storage, record, created, staged)
        raise
    if not won:
        if staged is not None:
            with contextlib.suppress(PubkitError):
                storage.delete(staged)
        # Bytes this upload put at the file's key are the winner's to replace (it staged,
        # since the key was taken) or identical: either way not this upload's to remove.
        theirs = read_committed(storage, record.project, record.filename)
        if theirs is None:
            raise StorageError(
                f"the sidecar of {record.filename} vanished while uploading; retry the upload"
            )
        if theirs.sha256 == record.sha256:
            restore(storage, theirs, spool, metadata, spool_dir)
        return theirs, False
    if staged is not None:
        storage.replace(final, spool)
    storage.put_bytes(metadata_key(record.project, record.filename), metadata)
    if staged is not None:
        storage.delete(staged)
    return record, True


def _undo(storage: Storage, record: FileRecord, created: list[str], staged: str | None) -> None:
    """Remove what a failed upload stored, unless its sidecar was written all the same (a
    timeout after S3 stored it): then it is committed, and rebuild finishes it. The file's
    key is removed only while no sidecar claims it (another upload that commits meanwhile
    replaces it anyway)."""
    with contextlib.suppress(PubkitError):
        committed = read_committed(storage, record.project, record.filename)
        if committed is not None and committed.sha256 == record.sha256:
            return
        for key in reversed(created):
            if key == staged or committed is None:
                storage.delete(key)


def restore(
    storage: Storage, committed: FileRecord, spool: Path, metadata: bytes, spool_dir: Path,
    check_bytes: bool = True,
) -> None:  # fmt: skip
    """Given the identical bytes of a committed file, put back whatever of it is missing:
    its sidecar, its bytes (also when a commit of them is pending, or, with ``check_bytes``,
    when they hash otherwise), its metadata."""
    sidecar = sidecar_key(committed.project, committed.filename)
    if storage.size(sidecar) is None:
        put_new_bytes(storage, sidecar, committed.to_sidecar(), spool_dir)
    final = file_key(committed.project, committed.filename)
    pending = [obj.key for obj in storage.list(staged_prefix(committed.sha256))]
    if (pending or storage.size(final) != committed.size
            or (check_bytes and sha256_of(storage, final) != committed.sha256)):
        storage.replace(final, spool)  # fmt: skip
    for key in pending:
        storage.delete(key)
    meta = metadata_key(committed.project, committed.filename)
    try:
        current: bytes | None = storage.read_bytes(meta)
    except NotFoundError:
        current = None
    if current is None or (
        committed.metadata_sha256 is not None
        and hashlib.sha256(current).hexdigest() != committed.metadata_sha256
    ):
        storage.put_bytes(meta, metadata)


def put_new_bytes(storage: Storage, key: str, data: bytes, spool_dir: Path | None) -> bool:
    """``put_new`` of a small object (storage creates only from files), spooled in
    ``spool_dir`` (None: the system's temporary directory)."""
    if spool_dir is not None:
        fd, path = spool.create(spool_dir, "sidecar")  # named for the sweep; 507 when full
    else:
        fd, name = tempfile.mkstemp(prefix="sidecar-")
        path = Path(name)
    try:
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
        except OSError as error:
            raise spool.write_error(error, path.parent) from None
        return storage.put_new(key, path)
    finally:
        path.unlink(missing_ok=True)
