"""``pubkit index verify``: does the catalog agree with storage, and storage with itself?

One listing pass and every sidecar (``--deep`` also hashes every file), so that a nightly job
can afford it. What it finds, and what ``--repair`` does about it (only what loses nothing):

====================  ===========================================  =============================
finding               meaning                                      --repair
====================  ===========================================  =============================
pending-commit        sidecar written, bytes still staged (crash)  finish the commit
missing-metadata      complete file without its .metadata          read it again from the bytes
missing-bytes         sidecar whose bytes are gone                 remove the row (if listed);
                                                                   re-upload the file to fix
size-mismatch         bytes of another size than the sidecar's     as missing-bytes
hash-mismatch         (--deep) bytes whose sha256 is not the       as missing-bytes
                      sidecar's
metadata-mismatch     (--deep) metadata whose sha256 is not the    read it again from the bytes
                      sidecar's
unreadable-sidecar    a sidecar that cannot be read or adopted     none: restore it from backup
unlisted              complete file the catalog does not list      add the row
row-disagrees         row that differs from its sidecar            take the sidecar's values
row-without-sidecar   row whose sidecar is gone                    bytes intact (hashed): write
                                                                   the sidecar back; else remove
                                                                   the row
orphan                bytes, metadata or staged bytes that no      with --force: delete them
                      sidecar claims (an upload that never
                      committed), older than the grace period
====================  ===========================================  =============================

A project whose rows --repair added or corrected takes its summary and "depends on" from its
newest release's stored metadata, as ``index rebuild`` gives them
(:func:`pubkit.server.inventory.describe_projects`); a metadata that cannot be read for it is
an ``unreadable-metadata`` finding (``--deep --repair`` reads it again from the bytes).

Nothing that a sidecar claims is ever deleted: a sidecar is a published file, and only its
identical bytes (a re-upload) may complete it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pubkit.core.distributions import canonical_filename
from pubkit.errors import CatalogError, NotFoundError, PubkitError
from pubkit.server.catalog import Catalog
from pubkit.server.commit import put_new_bytes
from pubkit.server.inventory import (
    Entry,
    Inventory,
    complete,
    describe_projects,
    downloaded,
    sha256_of,
    take_inventory,
)
from pubkit.server.layout import (
    METADATA_SUFFIX,
    SIDECAR_SUFFIX,
    FileRecord,
    check_record,
    file_key,
    metadata_key,
    sidecar_key,
)
from pubkit.server.storage import Storage

DEFAULT_GRACE = timedelta(hours=1)
# Findings whose bytes are not what the sidecar promises: the row must not advertise them.
_BYTES_LOST = {"missing-bytes", "size-mismatch", "hash-mismatch"}


@dataclass(frozen=True)
class Finding:
    kind: str
    key: str
    detail: str
    repaired: str | None = None  # what --repair did about it

    def line(self) -> str:
        done = f" (repaired: {self.repaired})" if self.repaired else ""
        return f"{self.kind}: {self.key}: {self.detail}{done}"


@dataclass
class VerifyReport:
    files: int = 0  # catalog rows checked
    objects: int = 0  # storage objects listed
    in_progress: int = 0  # orphans younger than the grace period: uploads under way
    findings: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.repaired is None]

    @property
    def repaired(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.repaired is not None]

    def summary(self) -> str:
        return (f"{self.files} catalog files, {self.objects} storage objects:"
                f" {len(self.problems)} problems, {len(self.repaired)} repaired")  # fmt: skip

    def to_json(self) -> str:
        document: dict[str, Any] = {
            "files": self.files, "objects": self.objects, "in_progress": self.in_progress,
            "problems": [asdict(finding) for finding in self.problems],
            "repaired": [asdict(finding) for finding in self.repaired],
        }  # fmt: skip
        return json.dumps(document, indent=1)


def verify(
    storage: Storage, catalog: Catalog, *, repair: bool = False, deep: bool = False,
    force: bool = False, grace: timedelta = DEFAULT_GRACE, tmp_dir: Path | None = None,
) -> VerifyReport:  # fmt: skip
    """Check (and with ``repair`` fix what is safe); the report lists what remains and what
    was repaired. ``force`` (with ``repair``) also deletes orphans."""
    checker = _Checker(storage, catalog, deep, grace, tmp_dir)
    first = checker.run(repair=repair, force=force)
    if not repair:
        return first
    # What the repairs left: a second, read-only pass, plus the list of what was done.
    after = _Checker(storage, catalog, deep, grace, tmp_dir).run(repair=False, force=False)
    # (A description the repair could not restore is found only while repairing.)
    kept = [f for f in first.problems if f.kind == "unreadable-metadata"]
    after.findings = first.repaired + kept + after.findings
    return after


class _Checker:
    def __init__(
        self, storage: Storage, catalog: Catalog, deep: bool, grace: timedelta,
        tmp_dir: Path | None,
    ) -> None:  # fmt: skip
        self.storage = storage
        self.catalog = catalog
        self.deep = deep
        self.grace = grace
        self.tmp_dir = tmp_dir
        self.report = VerifyReport()
        self.repair = False
        self.force = False
        self.adopted: list[FileRecord] = []  # complete files, as their sidecars say
        self.rows_changed: set[str] = set()  # projects whose rows --repair added or changed

    def run(self, repair: bool, force: bool) -> VerifyReport:
        self.repair, self.force = repair, force
        # Rows first: a file uploaded after the listing has its sidecar by then, so it is
        # never mistaken for a row without one.
        rows = {canonical_filename(r.filename): r for r in self.catalog.all_files()}
        inventory = take_inventory(self.storage)
        self.report.files = len(rows)
        self.report.objects = (
            sum(int(e.size is not None) + int(e.metadata) + int(e.sidecar)
                for e in inventory.entries.values())
            + sum(len(objects) for objects in inventory.staged.values()) + len(inventory.other)
        )  # fmt: skip
        claimed: set[str] = set()
        for key, entry in sorted(inventory.entries.items()):
            canonical = key.rpartition("/")[2]
            row = rows.pop(canonical, None)
            if entry.sidecar:
                record = self._sidecar(key, entry, inventory, row)
                if record is not None:
                    claimed.add(record.sha256)
            elif row is not None:
                self._row_without_sidecar(key, entry, row)
            else:
                self._orphan(key, entry)
        for row in rows.values():  # rows with nothing at all in storage
            self._row_without_sidecar(file_key(row.project, row.filename), Entry(""), row)
        for digest, objects in sorted(inventory.staged.items()):
            if digest in claimed:
                continue
            for obj in objects:
                self._orphan_object(obj.key, obj.modified, "staged bytes that no sidecar claims")
        if self.rows_changed:
            _changed, unreadable = describe_projects(
                self.storage, self.catalog,
                [r for r in self.adopted if r.project in self.rows_changed])  # fmt: skip
            for line in unreadable:
                key, _, detail = line.partition(": ")
                self._add("unreadable-metadata", key, detail)
        return self.report

    # -- findings --------------------------------------------------------------------------

    def _add(self, kind: str, key: str, detail: str, repaired: str | None = None) -> None:
        self.report.findings.append(Finding(kind, key, detail, repaired))

    def _sidecar(
        self, key: str, entry: Entry, inventory: Inventory, row: FileRecord | None
    ) -> FileRecord | None:
        try:
            record = FileRecord.from_sidecar(self.storage.read_bytes(key + SIDECAR_SUFFIX))
            if file_key(record.project, record.filename) != key:
                raise CatalogError(f"it describes {record.project}/{record.filename}")
            check_record(record)
        except (PubkitError, ValueError) as error:
            self._add("unreadable-sidecar", key + SIDECAR_SUFFIX,
                      f"{error}; restore it from a backup")  # fmt: skip
            return None
        staged = inventory.staged.get(record.sha256, [])
        if staged:
            detail = "its sidecar is written but its bytes are still staged (an interrupted upload)"
            fixed = None
            if self.repair and complete(self.storage, record, entry, staged, self.tmp_dir) is None:
                fixed = "finished the commit"
            self._add("pending-commit", key, detail, fixed)
            if fixed is None:
                return record
            entry = Entry(key, record.size, True, True)
        lost = self._bytes_problem(key, entry, record)
        if lost is not None:
            kind, detail = lost
            fixed = None
            if row is not None and self.repair:
                self.catalog.delete_files(row.project, [row.filename], "verify")
                fixed = "removed its catalog row; upload the identical file to restore it"
            elif row is not None:
                detail += "; the catalog still lists it"
            self._add(kind, key, detail, fixed)
            return record
        self._metadata(key, entry, record)
        self.adopted.append(record)
        if row is None:
            fixed = None
            if self.repair:
                self.catalog.add_file(record)
                self.rows_changed.add(record.project)
                fixed = "added its catalog row"
            self._add("unlisted", key, "a complete file that the catalog does not list", fixed)
        elif replace(row, display_name=record.display_name) != record:  # it is per project
            fixed = None
            if self.repair:
                # Updates this one row and removes none.
                self.catalog.replace_files([record], removable=lambda _row: False)
                self.rows_changed.add(record.project)
                fixed = "took the sidecar's values"
            differing = sorted(name for name, value in vars(record).items()
                               if getattr(row, name) != value)  # fmt: skip
            self._add("row-disagrees", key,
                      f"the catalog row differs from the sidecar in {', '.join(differing)}",
                      fixed)  # fmt: skip
        return record

    def _bytes_problem(self, key: str, entry: Entry, record: FileRecord) -> tuple[str, str] | None:
        if entry.size is None:
            return "missing-bytes", "its sidecar is there but its bytes are gone"
        if entry.size != record.size:
            detail = f"its bytes are {entry.size} bytes, its sidecar says {record.size}"
            return "size-mismatch", detail
        if self.deep:
            try:
                digest = sha256_of(self.storage, key)
            except NotFoundError:
                return "missing-bytes", "its sidecar is there but its bytes are gone"
            if digest != record.sha256:
                detail = f"its bytes hash to {digest}, its sidecar says {record.sha256}"
                return "hash-mismatch", detail
        return None

    def _metadata(self, key: str, entry: Entry, record: FileRecord) -> None:
        kind = None
        if not entry.metadata:
            kind, detail = "missing-metadata", "its core metadata file is missing"
        elif self.deep and record.metadata_sha256 is not None:
            try:
                raw = self.storage.read_bytes(key + METADATA_SUFFIX)
            except NotFoundError:
                raw = b""
            if hashlib.sha256(raw).hexdigest() != record.metadata_sha256:
                kind, detail = "metadata-mismatch", "its core metadata is not the sidecar's"
        if kind is None:
            return
        fixed = None
        if self.repair:
            self.storage.delete(metadata_key(record.project, record.filename))
            missing = Entry(key, record.size, False, True)
            if complete(self.storage, record, missing, [], self.tmp_dir) is None:
                fixed = "read it again from the bytes"
        self._add(kind, key, detail, fixed)

    def _row_without_sidecar(self, key: str, entry: Entry, row: FileRecord) -> None:
        detail = "the catalog lists it but its sidecar is gone"
        fixed = None
        if self.repair:
            intact = False
            if entry.size == row.size:
                with downloaded(self.storage, key, self.tmp_dir) as (_path, digest):
                    intact = digest == row.sha256
            if intact:
                put_new_bytes(self.storage, sidecar_key(row.project, row.filename),
                              row.to_sidecar(), self.tmp_dir)  # fmt: skip
                fixed = "wrote its sidecar back from the row (its bytes hash right)"
            else:
                self.catalog.delete_files(row.project, [row.filename], "verify")
                fixed = "removed its catalog row: its bytes are gone or differ"
        self._add("row-without-sidecar", key, detail, fixed)

    def _orphan(self, key: str, entry: Entry) -> None:
        keys = [key] if entry.size is not None else []
        if entry.metadata:
            keys.append(key + METADATA_SUFFIX)
        detail = "no sidecar claims it (an upload that never committed)"
        for orphan in keys:
            self._orphan_object(orphan, entry.modified, detail)

    def _orphan_object(self, key: str, modified: datetime | None, detail: str) -> None:
        if modified is not None and datetime.now(timezone.utc) - modified < self.grace:
            self.report.in_progress += 1
            return
        fixed = None
        if self.repair and self.force:
            self.storage.delete(key)
            fixed = "deleted"
        else:
            detail += "; `pubkit index verify --repair --force` deletes it"
        self._add("orphan", key, detail, fixed)
