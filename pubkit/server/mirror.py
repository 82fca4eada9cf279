"""Mirroring one storage to another: a complete backup of an index, since storage holds
every file with its metadata and sidecar and, under ``.access/``, the access state
(:mod:`pubkit.server.access_state`) from which ``pubkit index rebuild`` recreates the whole
catalog. ``pubkit index mirror`` runs :func:`mirror`."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pubkit.errors import CatalogError, ConfigurationError, PubkitError, UsageError
from pubkit.server.layout import METADATA_SUFFIX, SIDECAR_SUFFIX, FileRecord, file_key
from pubkit.server.storage import LocalStorage, Storage
from pubkit.server.storage.s3 import S3Storage

CHUNK = 1024 * 1024

Outcome = Literal["copied", "already there", "conflict", "failed"]


@dataclass(frozen=True)
class MirrorEvent:
    """What happened to one source object; ``detail`` is a reason fit for one line."""

    key: str
    outcome: Outcome
    detail: str = ""


@dataclass
class MirrorReport:
    objects: int = 0
    copied: int = 0
    already_there: int = 0
    conflicts: list[MirrorEvent] = field(default_factory=list)
    failed: list[MirrorEvent] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.conflicts and not self.failed

    def summary(self) -> str:
        return (
            f"{self.objects} objects: {self.copied} copied, {self.already_there} already there,"
            f" {len(self.conflicts)} conflicts, {len(self.failed)} failed"
        )


Progress = Callable[[MirrorEvent], None]


def _is_temporary(key: str) -> bool:
    # LocalStorage's own temporary files (and our spool files, when the source is a mirror
    # target that was interrupted) are never objects.
    return key.rsplit("/", 1)[-1].startswith(".tmp-")


def _overlap(source: Storage, target: Storage) -> bool:
    if isinstance(source, LocalStorage) and isinstance(target, LocalStorage):
        a, b = source.root, target.root
        return a == b or a.is_relative_to(b) or b.is_relative_to(a)
    if isinstance(source, S3Storage) and isinstance(target, S3Storage):
        a_prefix, b_prefix = source.prefix, target.prefix
        return source.bucket == target.bucket and (
            a_prefix.startswith(b_prefix) or b_prefix.startswith(a_prefix)
        )
    return source is target


def _list_source(source: Storage) -> dict[str, int]:
    """The source's objects; a missing or unreadable source is a ConfigurationError (exit 2)."""
    if isinstance(source, LocalStorage):
        # LocalStorage lists a missing directory as empty, and os.walk skips what it cannot
        # read: a mistyped path would "mirror" nothing and succeed.
        if not source.root.is_dir():
            raise ConfigurationError(f"the source {source.root} is not a directory; check SRC_URL")
        try:
            next(source.root.iterdir(), None)
        except OSError as error:
            raise ConfigurationError(
                f"cannot read the source {source.root}: {error.strerror}"
            ) from None
    try:
        return {obj.key: obj.size for obj in source.list() if not _is_temporary(obj.key)}
    except PubkitError as error:
        raise ConfigurationError(f"cannot read the source: {error.message}") from None


class _Mirror:
    def __init__(
        self,
        source: Storage,
        target: Storage,
        progress: Progress | None,
        spool_dir: Path | None,
        verify_existing: bool,
    ) -> None:
        self.source = source
        self.target = target
        self.progress = progress
        self.spool_dir = spool_dir
        self.verify_existing = verify_existing
        self.report = MirrorReport()
        self.source_objects: dict[str, int] = {}
        self.target_objects: dict[str, int] = {}

    def run(self) -> None:
        self.source_objects = _list_source(self.source)
        self.target.check()
        if self.spool_dir is None and isinstance(self.target, LocalStorage):
            # Spooled beside the objects, storing a copy is a link(2) rather than a second
            # copy; the ".tmp-" prefix keeps the spool files out of every listing.
            self.spool_dir = self.target.root
        self.target_objects = {
            obj.key: obj.size for obj in self.target.list() if not _is_temporary(obj.key)
        }
        self.report.objects = len(self.source_objects)
        suffixes = (SIDECAR_SUFFIX, METADATA_SUFFIX)
        distributions = sorted(key for key in self.source_objects if not key.endswith(suffixes))
        grouped = {
            key + suffix for key in distributions for suffix in suffixes
        } & self.source_objects.keys()
        for key in distributions:
            self._distribution(key)
        # Metadata or sidecars whose distribution is not in the source: copied as they are.
        for key in sorted(self.source_objects.keys() - grouped - set(distributions)):
            self._guarded(key, functools.partial(self._object, key))

    # -- one distribution and its companions, in upload order ------------------------------

    def _distribution(self, key: str) -> None:
        metadata, sidecar = key + METADATA_SUFFIX, key + SIDECAR_SUFFIX
        companions = [k for k in (metadata, sidecar) if k in self.source_objects]
        raw: bytes | None = None
        record: FileRecord | None = None
        if sidecar in self.source_objects:
            try:
                raw = self.source.read_bytes(sidecar)
                record = FileRecord.from_sidecar(raw)
                if file_key(record.project, record.filename) != key:
                    raise CatalogError(f"it describes {record.project}/{record.filename}")
            except PubkitError as error:
                self._emit(MirrorEvent(key, "failed", f"its sidecar is unusable: {error}"))
                self._hold_back(companions, key)
                return
        copy = functools.partial(self._object, key, record.sha256 if record else None)
        if not self._guarded(key, copy):
            self._hold_back(companions, key)
            return
        if metadata in self.source_objects:
            expected = record.metadata_sha256 if record else None
            if not self._guarded(metadata, functools.partial(self._object, metadata, expected)):
                self._hold_back([sidecar] if raw is not None else [], metadata)
                return
        if raw is not None:
            # Last, as uploads do: in the target a sidecar always means a complete file.
            self._guarded(sidecar, functools.partial(self._object, sidecar, data=raw))

    def _hold_back(self, keys: list[str], cause: str) -> None:
        for key in keys:
            if key not in self.target_objects:
                self._emit(MirrorEvent(key, "failed", f"not copied, because {cause} was not"))
            else:
                self._guarded(key, functools.partial(self._object, key))

    def _guarded(self, key: str, action: Callable[[], MirrorEvent]) -> bool:
        """Run one object's copy; any storage failure is that object's, and the run goes on."""
        try:
            event = action()
        except (PubkitError, OSError) as error:
            reason = error.message if isinstance(error, PubkitError) else str(error)
            event = MirrorEvent(key, "failed", reason)
        self._emit(event)
        return event.outcome in ("copied", "already there")

    def _emit(self, event: MirrorEvent) -> None:
        if event.outcome == "copied":
            self.report.copied += 1
        elif event.outcome == "already there":
            self.report.already_there += 1
        elif event.outcome == "conflict":
            self.report.conflicts.append(event)
        else:
            self.report.failed.append(event)
        if self.progress is not None:
            self.progress(event)

    # -- one object ------------------------------------------------------------------------

    def _object(
        self, key: str, sha256: str | None = None, data: bytes | None = None
    ) -> MirrorEvent:
        """Copy ``key`` unless the target has it. ``sha256`` is what its bytes must hash to
        (from the sidecar); ``data`` the source's bytes when they were read already."""
        if data is not None:
            sha256 = hashlib.sha256(data).hexdigest()
        if key in self.target_objects:
            return self._compare(key, sha256, data)
        spooled, digest = self._spool(key, data)
        try:
            if sha256 is not None and digest != sha256:
                return MirrorEvent(key, "failed", "the source's bytes do not match its sidecar's"
                                   " sha256; restore the source from a backup")  # fmt: skip
            if not self.target.put_new(key, spooled):
                # Stored by someone else since our listing: the same bytes or a conflict.
                same = _sha256(self.target, key) == digest
                return MirrorEvent(key, "already there") if same else _conflict(key)
        finally:
            spooled.unlink(missing_ok=True)
        # Read back what the target stored: a copy is only as good as its verification.
        if _sha256(self.target, key) != digest:
            self.target.delete(key)
            return MirrorEvent(key, "failed", "the copy's sha256 differs from the source's; it"
                               " was deleted, run the mirror again")  # fmt: skip
        return MirrorEvent(key, "copied")

    def _compare(self, key: str, sha256: str | None, data: bytes | None) -> MirrorEvent:
        size = self.source_objects[key] if data is None else len(data)
        if self.target_objects[key] != size:
            return _conflict(key)
        if data is not None:
            # A sidecar: small, and changed in place by yanks, so compared byte for byte.
            same = self.target.read_bytes(key) == data
        elif key.endswith(METADATA_SUFFIX) and not self.verify_existing:
            same = True  # written once with its distribution; verify_existing hashes it
        elif sha256 is not None and not self.verify_existing:
            # A distribution: the target's sidecar (when it has one) says which bytes it holds;
            # without one (an interrupted run) the file is read once.
            target_record = self._target_record(key)
            target_sha = target_record.sha256 if target_record else _sha256(self.target, key)
            same = target_sha == sha256
        else:
            expected = sha256 if sha256 is not None else _sha256(self.source, key)
            same = _sha256(self.target, key) == expected
        return MirrorEvent(key, "already there") if same else _conflict(key)

    def _target_record(self, key: str) -> FileRecord | None:
        if key + SIDECAR_SUFFIX not in self.target_objects:
            return None
        try:
            return FileRecord.from_sidecar(self.target.read_bytes(key + SIDECAR_SUFFIX))
        except CatalogError:
            return None  # the sidecar's own comparison reports it

    def _spool(self, key: str, data: bytes | None) -> tuple[Path, str]:
        """The source object in a temporary file (``put_new`` takes a path), and its sha256.

        Streamed: a distribution is never held in memory whole."""
        fd, name = tempfile.mkstemp(dir=self.spool_dir, prefix=".tmp-mirror-", suffix=".part")
        path = Path(name)
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out:
                if data is not None:
                    digest.update(data)
                    out.write(data)
                else:
                    with contextlib.closing(self.source.open(key)) as stream:
                        for chunk in iter(lambda: stream.read(CHUNK), b""):
                            digest.update(chunk)
                            out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path, digest.hexdigest()


def _conflict(key: str) -> MirrorEvent:
    if key.endswith(SIDECAR_SUFFIX):
        # Sidecars are the one kind of object that changes in place.
        reason = "the target's sidecar differs (a yank or unyank on one side?); left alone"
    else:
        reason = "the target holds other bytes under this key; left alone"
    return MirrorEvent(key, "conflict", reason)


def _sha256(storage: Storage, key: str) -> str:
    digest = hashlib.sha256()
    with contextlib.closing(storage.open(key)) as stream:
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def mirror(
    source: Storage,
    target: Storage,
    progress: Progress | None = None,
    *,
    spool_dir: Path | None = None,
    verify_existing: bool = False,
) -> MirrorReport:
    """Copy every object of ``source`` that ``target`` lacks; never overwrite one it has.

    One listing pass on each side. A re-run copies only what is still missing, so an
    interrupted mirror is resumed by running it again. An object the target has is skipped
    when its size matches and, for a distribution, the sha256 in the target's sidecar (or of
    its bytes) is the source sidecar's; sidecars are compared byte for byte. Anything else is a
    conflict, reported and left alone. ``verify_existing`` hashes every object already in the
    target instead of trusting sizes and sidecars.

    Each distribution is copied before its metadata, and its sidecar last, as uploads store
    them, so the target never holds a sidecar without its file; a copy is read back and
    verified against the sidecar's sha256, and deleted if it does not match.

    Files are spooled through ``spool_dir`` (default: the system's temporary directory; for a
    local target, its own root, so storing the copy is a ``link(2)``, not a second copy).
    """
    if _overlap(source, target):
        raise UsageError("the source and the target overlap; mirror to another place")
    job = _Mirror(source, target, progress, spool_dir, verify_existing)
    job.run()
    return job.report
