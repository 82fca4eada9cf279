"""The catalog: a queryable cache of what storage holds.

Files are rebuilt from their sidecars, and users, groups, roles, private flags and tokens
from the access snapshot that every access change writes to storage before it commits
(:mod:`pubkit.server.access_state`, attached as :attr:`Catalog.access_state`).

:class:`Catalog` is built in layers: :mod:`~pubkit.server.catalog.base` (the engine, its
schema, connections, the change transaction, the journal and the serial),
:mod:`~pubkit.server.catalog.access` (the access data), and here the files and projects.
:mod:`~pubkit.server.catalog.records` holds the rows as plain data and
:mod:`~pubkit.server.catalog.opening` opens a catalog from its URL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from pubkit.core.accounts import OWNER, AuditEntry
from pubkit.core.distributions import canonical_filename
from pubkit.errors import CatalogError, InvalidDistributionError, NotFoundError
from pubkit.server.catalog import schema
from pubkit.server.catalog.access import AccessCatalog
from pubkit.server.catalog.access_writer import AccessWriter
from pubkit.server.catalog.base import ACCESS_SNAPSHOT_KEY, AccessRecorder, audit_log
from pubkit.server.catalog.records import (
    Access,
    AuditNote,
    GroupRole,
    Project,
    ProjectAccess,
    ProjectSummary,
    Role,
    UpstreamRule,
    User,
    _aware,
    _file_values,
    _record,
    _summary,
    audit_note,
    holders,
)
from pubkit.server.layout import FileRecord

# Importable from here as before the catalog was split into modules.
__all__ = [
    "ACCESS_SNAPSHOT_KEY",
    "Access",
    "AccessRecorder",
    "AccessWriter",
    "AuditNote",
    "Catalog",
    "GroupRole",
    "Project",
    "ProjectAccess",
    "ProjectSummary",
    "Role",
    "UpstreamRule",
    "User",
    "audit_log",
    "audit_note",
    "holders",
]


_FILE_COLUMNS = (
    schema.files.c.filename,
    schema.files.c.version,
    schema.files.c.packagetype,
    schema.files.c.size,
    schema.files.c.sha256,
    schema.files.c.md5,
    schema.files.c.blake2_256,
    schema.files.c.requires_python,
    schema.files.c.metadata_sha256,
    schema.files.c.upload_time,
    schema.files.c.uploader,
    schema.files.c.yanked,
    schema.files.c.yanked_reason,
    schema.projects.c.display_name,
    schema.projects.c.name.label("project"),
)


_PROJECT_SUMMARY = select(
    schema.projects.c.name,
    schema.projects.c.display_name,
    schema.projects.c.last_serial,
    schema.projects.c.private,
)


class Catalog(AccessCatalog):
    """All catalog reads and writes; one instance per process, safe across threads. The
    files and projects are here, the access data in :class:`AccessCatalog`, the connections,
    transactions and serial in :class:`~pubkit.server.catalog.base.CatalogBase`."""

    # -- reads -----------------------------------------------------------------------------

    def project(self, name: str) -> ProjectSummary | None:
        with self._connect() as conn:
            row = conn.execute(_PROJECT_SUMMARY.where(schema.projects.c.name == name)).first()
        return _summary(row) if row else None

    def projects(self) -> list[ProjectSummary]:
        """Projects that have at least one file, by name."""
        has_files = select(schema.files.c.id).where(
            schema.files.c.project_id == schema.projects.c.id
        )
        with self._connect() as conn:
            rows = conn.execute(
                _PROJECT_SUMMARY.where(has_files.exists()).order_by(schema.projects.c.name)
            ).all()
        return [_summary(row) for row in rows]

    def project_names(self) -> frozenset[str]:
        """Every project's name, with files or not (the upstream guard's local names)."""
        with self._connect() as conn:
            return frozenset(conn.execute(select(schema.projects.c.name)).scalars())

    def project_files(self, name: str) -> list[FileRecord]:
        with self._connect() as conn:
            rows = conn.execute(
                select(*_FILE_COLUMNS)
                .join(schema.projects, schema.files.c.project_id == schema.projects.c.id)
                .where(schema.projects.c.name == name)
                .order_by(schema.files.c.filename)
            ).all()
        return [_record(row, name) for row in rows]

    def file(self, filename: str) -> FileRecord | None:
        """The file with this name, however its project name is spelled; None if absent."""
        try:
            canonical = canonical_filename(filename)
        except InvalidDistributionError:
            return None
        with self._connect() as conn:
            row = conn.execute(
                select(*_FILE_COLUMNS)
                .join(schema.projects, schema.files.c.project_id == schema.projects.c.id)
                .where(schema.files.c.canonical_filename == canonical)
            ).first()
        return _record(row, row.project) if row else None

    def all_files(self) -> list[FileRecord]:
        with self._connect() as conn:
            rows = conn.execute(
                select(*_FILE_COLUMNS).join(
                    schema.projects, schema.files.c.project_id == schema.projects.c.id
                )
            ).all()
        return [_record(row, row.project) for row in rows]

    # -- writes ----------------------------------------------------------------------------

    def claim_project(self, name: str, display_name: str, user: User) -> bool:
        """Create the project with ``user`` as its owner unless it exists; return if created."""
        try:
            with self._change("create a project") as conn:
                project_id, created = self._ensure_project(conn, name, display_name)
                if created:
                    conn.execute(
                        insert(schema.roles).values(
                            project_id=project_id, user_id=user.id, role=OWNER
                        )
                    )
                    self._journal(conn, name, "create project", actor=user.name)
                return created
        except IntegrityError:
            # Another worker created it first; it is theirs.
            return False

    def add_file(
        self, record: FileRecord, audit: AuditNote | None = None, summary: str | None = None,
        requires: Iterable[str] | None = None,
    ) -> FileRecord:  # fmt: skip
        """Insert a file row (and ``audit``, in the same transaction); if the filename
        exists, return the existing row unchanged (and write no audit row). ``requires``
        (and ``summary``): the projects its metadata requires, recorded if it is the
        project's newest release (see :mod:`pubkit.server.catalog.web`)."""
        from pubkit.server.catalog.web import describe_project

        try:
            with self._change("record the upload", audit, access=False) as conn:
                project_id, _ = self._ensure_project(conn, record.project, record.display_name)
                conn.execute(
                    insert(schema.files).values(project_id=project_id, **_file_values(record))
                )
                if requires is not None:
                    describe_project(conn, project_id, record.version, summary, requires)
                self._journal(
                    conn,
                    record.project,
                    "add file",
                    filename=record.filename,
                    actor=record.uploader,
                )
        except IntegrityError:
            existing = self.file(record.filename)
            if existing is None:
                raise CatalogError(
                    f"could not record {record.filename}; retry the upload"
                ) from None
            return existing
        return record

    def set_yanked(
        self, project: str, version: str, yanked: bool, reason: str | None, actor: str | None,
        audit: AuditNote | None = None,
    ) -> list[FileRecord]:  # fmt: skip
        """Yank or unyank every file of one release; return the files as they now are."""
        from packaging.version import Version

        wanted = Version(version)
        changed = [
            record.with_yank(yanked, reason)
            for record in self.project_files(project)
            if Version(record.version) == wanted
        ]
        if not changed:
            raise NotFoundError(f"{project} has no release {version}")
        with self._change("yank the release", audit, access=False) as conn:
            for record in changed:
                conn.execute(
                    update(schema.files)
                    .where(schema.files.c.filename == record.filename)
                    .values(yanked=record.yanked, yanked_reason=record.yanked_reason)
                )
            self._journal(conn, project, "yank" if yanked else "unyank", actor=actor)
        return changed

    def delete_files(
        self, project: str, filenames: Iterable[str], actor: str | None,
        audit: AuditNote | None = None,
    ) -> int:  # fmt: skip
        """Remove these files' rows (a deleted release); how many there were."""
        names = list(filenames)
        with self._change("delete the files", audit, access=False) as conn:
            result = conn.execute(delete(schema.files).where(schema.files.c.filename.in_(names)))
            self._journal(conn, project, "delete", actor=actor)
        return int(result.rowcount)

    def replace_files(
        self, records: Iterable[FileRecord], since: int | None = None,
        removable: Callable[[FileRecord], bool] | None = None,
    ) -> tuple[int, int, int]:  # fmt: skip
        """Make the file rows equal to ``records``: (added, updated, removed).

        With ``since`` (the serial when the records were read), rows of projects changed
        after it are left alone: they are newer than the records. A row absent from
        ``records`` is removed only if ``removable`` says so (its sidecar is still gone)."""
        wanted = {record.filename: record for record in records}
        added = updated = removed = 0
        with self._guard("rebuild the catalog"), self._write() as conn:
            columns = (*_FILE_COLUMNS, schema.projects.c.last_serial)
            current: dict[str, FileRecord] = {}
            fresh: set[str] = set()  # projects changed since the records were read
            for row in conn.execute(select(*columns).join(
                    schema.projects, schema.files.c.project_id == schema.projects.c.id)):
                current[row.filename] = _record(row, row.project)
                if since is not None and row.last_serial > since:
                    fresh.add(row.project)  # fmt: skip
            if since is not None:
                fresh.update(conn.execute(select(schema.projects.c.name)
                                          .where(schema.projects.c.last_serial > since)).scalars())
            touched: set[str] = set()
            for filename in current.keys() - wanted.keys():
                record = current[filename]
                if record.project in fresh or (removable is not None and not removable(record)):
                    continue
                conn.execute(delete(schema.files).where(schema.files.c.filename == filename))
                touched.add(record.project)
                removed += 1
            for filename, record in wanted.items():
                existing = current.get(filename)
                if existing == record or record.project in fresh:
                    continue
                if existing is None and self._canonical_taken(conn, filename):
                    continue  # another spelling of it was added meanwhile
                project_id, _ = self._ensure_project(conn, record.project, record.display_name)
                if existing is None:
                    if not self._insert_unless_taken(conn, project_id, record):
                        continue
                    added += 1
                else:
                    conn.execute(
                        update(schema.files)
                        .where(schema.files.c.filename == filename)
                        .values(project_id=project_id, **_file_values(record))
                    )
                    updated += 1
                touched.add(record.project)
            for project in sorted(touched):
                self._journal(conn, project, "rebuild")
        return added, updated, removed

    def _insert_unless_taken(self, conn: Connection, project_id: int, record: FileRecord) -> bool:
        """Insert a file row; False if an upload committed the same file meanwhile (SQLite's
        writers take turns; PostgreSQL's may not, hence the savepoint there)."""
        statement = insert(schema.files).values(project_id=project_id, **_file_values(record))
        if self.is_sqlite:
            conn.execute(statement)
            return True
        try:
            with conn.begin_nested():
                conn.execute(statement)
        except IntegrityError:
            return False
        return True

    @staticmethod
    def _canonical_taken(conn: Connection, filename: str) -> bool:
        canonical = canonical_filename(filename)
        found = conn.execute(select(schema.files.c.id)
                             .where(schema.files.c.canonical_filename == canonical)).first()
        return found is not None  # fmt: skip

    # -- audit -----------------------------------------------------------------------------

    def audit(
        self, action: str, target: str, actor: str | None, address: str | None = None,
        **detail: Any,
    ) -> None:  # fmt: skip
        """Record a change in the audit table and as one JSON line on the ``pubkit.audit``
        logger (the server writes it to stdout beside the access log)."""
        note = audit_note(action, target, actor, address, **detail)
        with self._guard("write the audit log"), self._write() as conn:
            self._insert_audit(conn, note)
        self._log_audit(note)

    def audit_entries(self, limit: int = 100) -> list[AuditEntry]:
        """The newest ``limit`` entries, newest first."""
        with self._connect() as conn:
            rows = conn.execute(
                select(schema.audit).order_by(schema.audit.c.id.desc()).limit(limit)
            ).all()
        return [AuditEntry(r.id, _aware(r.time), r.actor, r.address, r.action, r.target,
                           json.loads(r.detail) if r.detail else {}) for r in rows]  # fmt: skip

    def owners_missing(self) -> list[str]:
        """Projects with files but no owner (after a rebuild into an empty catalog)."""
        with self._connect() as conn:
            owned = select(schema.roles.c.project_id).where(schema.roles.c.role == OWNER)
            rows = conn.execute(
                select(schema.projects.c.name).where(schema.projects.c.id.not_in(owned))
            ).all()
        return [row.name for row in rows]
