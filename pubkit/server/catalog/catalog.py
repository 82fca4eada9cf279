"""The catalog: a queryable cache of what storage holds.

Files are rebuilt from their sidecars, and users, groups, roles, private flags and tokens
from the access snapshot that every access change writes to storage before it commits
(:mod:`pubkit.server.access_state`, attached as :attr:`Catalog.access_state`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    delete,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from pubkit.core.accounts import GROUP_PREFIX, OWNER, AuditEntry, Group, Token
from pubkit.core.distributions import canonical_filename
from pubkit.errors import (
    AlreadyExistsError,
    CatalogError,
    InvalidDistributionError,
    NotFoundError,
    UsageError,
)
from pubkit.server.catalog import schema
from pubkit.server.catalog.access_writer import AccessWriter
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
    _token,
    _token_values,
    _user,
    audit_note,
    holders,
)
from pubkit.server.dependencies import may_block
from pubkit.server.layout import FileRecord, utc_now

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


audit_log = logging.getLogger("pubkit.audit")

# Bounds of the audit table's columns (schema.audit): a value is cut to fit, never refused
# after the change it records was made.
_AUDIT_ACTOR = 255
_AUDIT_ADDRESS = 64
_AUDIT_ACTION = 64


class _Unavailable(CatalogError):
    """The catalog did not answer a query (refused, timed out, no pooled connection free)."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"the catalog is not answering: {detail}; retry shortly")
        self.detail = detail


def _first_line(error: SQLAlchemyError) -> str:
    """The driver's message, first line only (libpq's run over several)."""
    orig = getattr(error, "orig", None)
    text = str(orig if orig is not None else error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _groups(conn: Connection, name: str | None = None) -> list[Group]:
    query = (
        select(schema.access_groups.c.name, schema.access_groups.c.created,
               schema.users.c.name.label("member"))
        .outerjoin(schema.group_members,
                   schema.group_members.c.group_id == schema.access_groups.c.id)
        .outerjoin(schema.users, schema.group_members.c.user_id == schema.users.c.id)
        .order_by(schema.access_groups.c.name, schema.users.c.name)
    )  # fmt: skip
    if name is not None:
        query = query.where(schema.access_groups.c.name == name)
    members: dict[str, list[str]] = {}
    created: dict[str, datetime] = {}
    for row in conn.execute(query):
        created[row.name] = _aware(row.created)
        members.setdefault(row.name, [])
        if row.member is not None:
            members[row.name].append(row.member)
    return [Group(group, created[group], tuple(names)) for group, names in members.items()]


def _upstream_rules(conn: Connection) -> list[UpstreamRule]:
    """The rules that say something, by name (an older catalog may hold empty ones)."""
    table = schema.upstream_rules
    rows = conn.execute(select(table.c.name, table.c.reserved, table.c.tracked,
                               table.c.min_age).order_by(table.c.name))  # fmt: skip
    rules = (UpstreamRule(r.name, bool(r.reserved), bool(r.tracked), r.min_age) for r in rows)
    return [rule for rule in rules if not rule.empty]


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


class _SqliteSerialProbe:
    """The catalog serial at the cost of one ``PRAGMA data_version`` while nothing changed.

    SQLite bumps a connection's ``data_version`` whenever another connection commits, so a
    read-only connection that never writes can tell "unchanged" without running a query.
    """

    def __init__(self, path: str) -> None:
        self._connection = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
        )
        self._lock = threading.Lock()
        self._version = -1
        self._serial = 0

    def __call__(self) -> int:
        with self._lock:
            version = self._connection.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version:
                row = self._connection.execute("SELECT max(serial) FROM journal").fetchone()
                self._serial = int(row[0] or 0)
                self._version = version
            return self._serial

    def close(self) -> None:
        with self._lock:
            self._connection.close()


class AccessRecorder(Protocol):
    """Where access changes are written before they commit (storage's access snapshots)."""

    def record(self, access: Access, known: int | None) -> int:
        """Store ``access`` as the next snapshot; its number. ``known``: the newest number
        this catalog wrote or restored (None: none), so that a catalog that lacks what
        storage holds (a new one, before ``index rebuild``) is refused."""
        ...

    def holds(self, access: Access, document: Any) -> bool:
        """Whether ``access`` is exactly the access document ``document`` (a snapshot that
        a restore brought back whole needs no new one)."""
        ...


# Catalog serials held by :meth:`Catalog.one_serial` (by the catalog's id); worker threads
# run in a copy of the caller's context, so they share the dict.
_HELD_SERIALS: ContextVar[dict[int, int] | None] = ContextVar("pubkit_held_serials",
                                                               default=None)

ACCESS_SNAPSHOT_KEY = "access_snapshot"  # catalog_info: the newest snapshot this catalog knows


class Catalog:
    """All catalog reads and writes; one instance per process, safe across threads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._serial_probe: _SqliteSerialProbe | None = None
        # Every change of users, groups, roles, private flags or tokens is handed to it
        # inside its transaction, before the commit; a failure there undoes the change.
        self.access_state: AccessRecorder | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def create_schema(self) -> None:
        """Create the tables, or upgrade an older catalog to this version's schema (alembic).

        Replicas starting together take turns: a PostgreSQL advisory lock (SQLite: the write
        lock) is held for the whole upgrade, which runs in one transaction."""
        from alembic import command
        from alembic.runtime.migration import MigrationContext

        with (
            self._guard("create or upgrade the catalog schema"),
            self._write() as conn,
            contextlib.ExitStack() as stack,
        ):
            if not self.is_sqlite:
                # Upgrades (and waiting for another replica's) may take long: no bounds.
                from pubkit.server.catalog.postgres import unbounded

                stack.enter_context(unbounded(conn))
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            config = _alembic_config(conn)
            current = MigrationContext.configure(conn).get_current_revision()
            if current is not None and current not in _known_revisions(config):
                raise CatalogError(
                    f"the catalog is at schema revision {current}, which this pubkit does not"
                    " know (written by a newer version?); upgrade pubkit"
                )
            if current is None and inspect(conn).has_table("files"):
                # A catalog from before migrations existed: it must hold 0.1's tables.
                for table in _INITIAL_TABLES:
                    if not inspect(conn).has_table(table):
                        raise CatalogError(f"the catalog lacks the table {table} {_REBUILD_FIX}")
                command.stamp(config, "0001")
            command.upgrade(config, "head")
        self._check_columns()

    def _check_columns(self) -> None:
        """Refuse to start on tables that lack columns we use, rather than fail every request."""
        inspector = inspect(self.engine)
        fix = _REBUILD_FIX
        for table in schema.metadata.sorted_tables:
            if not inspector.has_table(table.name):
                raise CatalogError(f"the catalog lacks the table {table.name} {fix}")
            present = {column["name"] for column in inspector.get_columns(table.name)}
            missing = sorted(set(table.columns.keys()) - present)
            if missing:
                raise CatalogError(
                    f"the catalog's table {table.name} lacks {', '.join(missing)} {fix}"
                )

    def check(self) -> None:
        with self._guard("reach the catalog"), self._connect() as conn:
            conn.execute(select(1)).scalar()

    def close(self) -> None:
        if self._serial_probe is not None:
            self._serial_probe.close()
            self._serial_probe = None
        self.engine.dispose()

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except (OperationalError, _Unavailable) as error:
            detail = error.detail if isinstance(error, _Unavailable) else _first_line(error)
            raise CatalogError(
                f"could not {action}: {detail}; check the catalog URL and that the database"
                " is reachable"
            ) from error

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Connection]:
        """A pooled connection; never on the event loop (see pubkit.server.dependencies).

        A catalog that does not answer (refused, timed out, pool exhausted) is a CatalogError
        (503) with one line, whichever query met it."""
        may_block()
        try:
            with self.engine.connect() as conn:
                yield conn
        except (OperationalError, SQLAlchemyTimeoutError) as error:
            raise _Unavailable(_first_line(error)) from error

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._connect() as conn:
            conn = conn.execution_options(pubkit_write=True)
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def _change(
        self, action: str, audit: AuditNote | None = None, access: bool = True,
        record: bool = False, restoring: int | None = None, restored: Any = None,
    ) -> Iterator[Connection]:  # fmt: skip
        """One write transaction that records itself: if it changed anything (journaled),
        ``audit`` is inserted in it, and, for an ``access`` change, the access state as the
        transaction sees it goes to :attr:`access_state` before the commit (with
        ``record``, even if it changed nothing). ``restoring``: the number of the snapshot
        whose state this transaction restores (the catalog knows it once it commits).

        Access changes take turns (PostgreSQL: an advisory lock; SQLite: its write lock),
        so each snapshot holds every access change committed before it, and a check such
        as "is this the last owner" made inside one cannot be raced."""
        with self._guard(action), self._write() as conn:
            if access and not self.is_sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ACCESS_LOCK})
            conn.info["pubkit_changed"] = False
            if restoring is not None and (self._access_snapshot(conn) or 0) < restoring:
                self._set_info(conn, ACCESS_SNAPSHOT_KEY, str(restoring))
            yield conn
            changed = bool(conn.info.pop("pubkit_changed", False))
            if changed and audit is not None:
                self._insert_audit(conn, audit)
            if restoring is not None and self.access_state is not None and changed and (
                    self.access_state.holds(self._access(conn), restored)):  # fmt: skip
                changed = False  # the catalog now holds that snapshot, no more
            if (changed or record) and access and self.access_state is not None:
                known = self._access_snapshot(conn)
                number = self.access_state.record(self._access(conn), known)
                self._set_info(conn, ACCESS_SNAPSHOT_KEY, str(number))
        if changed and audit is not None:
            self._log_audit(audit)

    # -- the access snapshot this catalog knows ----------------------------------------------

    @staticmethod
    def _access_snapshot(conn: Connection) -> int | None:
        value = conn.execute(select(schema.catalog_info.c.value).where(
            schema.catalog_info.c.key == ACCESS_SNAPSHOT_KEY)).scalar()  # fmt: skip
        return int(value) if value is not None and str(value).isdigit() else None

    @staticmethod
    def _set_info(conn: Connection, key: str, value: str) -> None:
        row = schema.catalog_info.c
        if conn.execute(select(row.key).where(row.key == key)).first() is None:
            conn.execute(insert(schema.catalog_info).values(key=key, value=value))
        else:
            conn.execute(update(schema.catalog_info).where(row.key == key).values(value=value))

    def access_snapshot(self) -> int | None:
        """The newest access snapshot this catalog wrote or was restored from."""
        with self.engine.connect() as conn:
            return self._access_snapshot(conn)

    def store_access(self) -> None:
        """Write the access state as it is to :attr:`access_state` (a first snapshot)."""
        with self._change("store the access state", record=True):
            pass

    # -- reads -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def one_serial(self) -> Iterator[None]:
        """Within (a page that only reads, and the worker threads it calls): :meth:`serial`
        is read once, at its first call, and then answered from memory, so that the page's
        checks agree on one state of the catalog at the cost of one read (on PostgreSQL a
        round trip each)."""
        token = _HELD_SERIALS.set({})
        try:
            yield
        finally:
            _HELD_SERIALS.reset(token)

    def serial(self) -> int:
        """The largest journal serial: it moves on every change, on any worker or replica."""
        held = _HELD_SERIALS.get()
        if held is None:
            return self._read_serial()
        found = held.get(id(self))
        if found is None:
            found = held[id(self)] = self._read_serial()
        return found

    def _read_serial(self) -> int:
        database = self.engine.url.database
        if self.is_sqlite and database and database != ":memory:":
            if self._serial_probe is None:
                self._serial_probe = _SqliteSerialProbe(database)
            try:
                return self._serial_probe()
            except sqlite3.Error as error:
                raise CatalogError(f"could not read the catalog serial: {error}") from error
        with self._guard("read the catalog serial"), self._connect() as conn:
            return int(conn.execute(select(func.max(schema.journal.c.serial))).scalar() or 0)

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

    def _journal(self, conn: Connection, project: str, action: str, **extra: Any) -> int:
        conn.info["pubkit_changed"] = True
        serial = conn.execute(
            insert(schema.journal).values(project=project, action=action, time=utc_now(), **extra)
        ).inserted_primary_key
        assert serial is not None
        value = int(serial[0])
        conn.execute(
            update(schema.projects)
            .where(schema.projects.c.name == project)
            .values(last_serial=value)
        )
        return value

    def _ensure_project(
        self, conn: Connection, name: str, display_name: str, created: datetime | None = None
    ) -> tuple[int, bool]:
        existing = conn.execute(
            select(schema.projects.c.id).where(schema.projects.c.name == name)
        ).scalar()
        if existing is not None:
            return int(existing), False
        result = conn.execute(
            insert(schema.projects).values(
                name=name, display_name=display_name, created=created or utc_now(), last_serial=0
            )
        )
        assert result.inserted_primary_key is not None
        return int(result.inserted_primary_key[0]), True

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

    # -- users and roles -------------------------------------------------------------------

    def add_user(
        self, name: str, password_hash: str, is_admin: bool = False,
        audit: AuditNote | None = None,
    ) -> User:  # fmt: skip
        try:
            with self._change("add the user", audit) as conn:
                self._add_user(conn, name, password_hash, is_admin)
        except IntegrityError:
            raise AlreadyExistsError(
                f"user {name!r} already exists; use `pubkit user passwd {name}` to change"
                " the password"
            ) from None
        user = self.user(name)
        assert user is not None
        return user

    def _add_user(
        self, conn: Connection, name: str, password_hash: str, is_admin: bool,
        created: datetime | None = None,
    ) -> None:  # fmt: skip
        self._journal(conn, "", "add user", actor=name)
        conn.execute(
            insert(schema.users).values(
                name=name,
                password_hash=password_hash,
                is_admin=is_admin,
                created=created or utc_now(),
            )
        )

    def user(self, name: str) -> User | None:
        with self._connect() as conn:
            row = conn.execute(select(schema.users).where(schema.users.c.name == name)).first()
        return _user(row) if row is not None else None

    def users(self) -> list[User]:
        with self._connect() as conn:
            rows = conn.execute(select(schema.users).order_by(schema.users.c.name)).all()
        return [_user(row) for row in rows]

    def remove_user(self, name: str, audit: AuditNote | None = None) -> None:
        with self._change("remove the user", audit) as conn:
            result = conn.execute(delete(schema.users).where(schema.users.c.name == name))
            self._journal(conn, "", "remove user", actor=name)
            if result.rowcount == 0:
                raise NotFoundError(f"no user {name!r}; `pubkit user list` shows who exists")

    def set_admin(self, name: str, is_admin: bool, audit: AuditNote | None = None) -> bool:
        """Make ``name`` an administrator or not; whether that changed anything. The last
        administrator stays one (checked in this transaction: concurrent changes cannot race
        it), or nobody could administer the index through the API."""
        users = schema.users.c
        with self._change("change the administrator flag", audit) as conn:
            row = conn.execute(select(users.is_admin).where(users.name == name)).first()
            if row is None:
                raise NotFoundError(f"no user {name!r}; `pubkit user list` shows who exists")
            if bool(row.is_admin) == is_admin:
                return False
            if not is_admin:
                others = conn.execute(select(func.count()).select_from(schema.users).where(
                    users.is_admin.is_(True), users.disabled.is_(False),
                    users.name != name)).scalar()  # fmt: skip
                if not others:
                    raise UsageError(f"{name} is the last administrator; make another user"
                                     " an administrator first")  # fmt: skip
            conn.execute(update(schema.users).where(users.name == name)
                         .values(is_admin=is_admin))  # fmt: skip
            self._journal(conn, "", "set admin" if is_admin else "unset admin", actor=name)
        return True

    def set_disabled(self, name: str, disabled: bool, audit: AuditNote | None = None) -> bool:
        """Disable a user (no sign-in anywhere, their web sessions end) or enable them again;
        whether that changed anything. The last enabled administrator stays enabled."""
        users = schema.users.c
        with self._change("disable or enable the user", audit) as conn:
            row = conn.execute(select(users.disabled, users.is_admin)
                               .where(users.name == name)).first()  # fmt: skip
            if row is None:
                raise NotFoundError(f"no user {name!r}; `pubkit user list` shows who exists")
            if bool(row.disabled) == disabled:
                return False
            if disabled and row.is_admin:
                others = conn.execute(select(func.count()).select_from(schema.users).where(
                    users.is_admin.is_(True), users.disabled.is_(False),
                    users.name != name)).scalar()  # fmt: skip
                if not others:
                    raise UsageError(f"{name} is the last enabled administrator; make another"
                                     " user an administrator first")  # fmt: skip
            conn.execute(update(schema.users).where(users.name == name)
                         .values(disabled=disabled))  # fmt: skip
            self._journal(conn, "", "disable user" if disabled else "enable user", actor=name)
            if disabled:
                from pubkit.server.catalog.web import end_sessions_of

                end_sessions_of(conn, name)
        return True

    def set_password(
        self, name: str, password_hash: str, audit: AuditNote | None = None
    ) -> None:
        with self._change("change the password", audit) as conn:
            result = conn.execute(
                update(schema.users)
                .where(schema.users.c.name == name)
                .values(password_hash=password_hash)
            )
            self._journal(conn, "", "change password", actor=name)
            if result.rowcount == 0:
                raise NotFoundError(f"no user {name!r}; `pubkit user list` shows who exists")
            from pubkit.server.catalog.web import end_sessions_of

            end_sessions_of(conn, name)  # a new password signs the old one's sessions out

    def upgrade_password(
        self, name: str, old_hash: str, new_hash: str, audit: AuditNote | None = None
    ) -> bool:
        """Replace a user's hash only if it is still ``old_hash`` (a migrated legacy hash that
        a sign-in just verified); whether it was replaced. A password changed meanwhile stays."""
        with self._change("upgrade the password hash", audit) as conn:
            result = conn.execute(
                update(schema.users)
                .where(schema.users.c.name == name, schema.users.c.password_hash == old_hash)
                .values(password_hash=new_hash)
            )
            if result.rowcount:
                self._journal(conn, "", "upgrade password hash", actor=name)
        return bool(result.rowcount)

    def role(self, project: str, user: User) -> str | None:
        with self._connect() as conn:
            return conn.execute(
                select(schema.roles.c.role)
                .join(schema.projects, schema.roles.c.project_id == schema.projects.c.id)
                .where(and_(schema.projects.c.name == project, schema.roles.c.user_id == user.id))
            ).scalar()

    def grant(
        self, project: str, user: User, role: str, create: bool = False,
        audit: AuditNote | None = None,
    ) -> None:  # fmt: skip
        """Give ``user`` ``role`` on ``project`` (replacing their role there); with ``create``,
        a project that does not exist yet is created, so that rights can be given before the
        first upload. Taking the owner role from the last owner is refused."""
        with self._change("grant the role", audit) as conn:
            if create:
                project_id, _created = self._ensure_project(conn, project, project)
            else:
                found = conn.execute(
                    select(schema.projects.c.id).where(schema.projects.c.name == project)
                ).scalar()
                if found is None:
                    raise NotFoundError(f"no project {project!r}")
                project_id = int(found)
            if role != OWNER:
                self._keep_an_owner(conn, project, project_id, user.name)
            self._grant(conn, project, project_id, user.name, user.id, role)

    def revoke_role(
        self, project: str, holder: str, role: str, audit: AuditNote | None = None
    ) -> None:
        """Take ``role`` on ``project`` from a user or ``@group``: NotFoundError unless they
        hold it; UsageError if they are its last owner. Checked and done in one transaction
        that other access changes wait for, so two owners revoked at once cannot both go."""
        with self._change("revoke the role", audit) as conn:
            project_id = self._id_of(conn, schema.projects, project, "project")
            holders = dict(self._roles_of(conn, project_id))
            if holders.get(holder) != role:
                raise NotFoundError(f"{holder} is not {role} of {project}; `pubkit project show"
                                    f" {project}` shows its roles")  # fmt: skip
            if role == OWNER:
                self._keep_an_owner(conn, project, project_id, holder)
            if holder.startswith(GROUP_PREFIX):
                group_id = self._id_of(conn, schema.access_groups,
                                       holder.removeprefix(GROUP_PREFIX), "group")  # fmt: skip
                conn.execute(delete(schema.group_roles).where(and_(
                    schema.group_roles.c.project_id == project_id,
                    schema.group_roles.c.group_id == group_id)))  # fmt: skip
            else:
                user_id = self._id_of(conn, schema.users, holder, "user")
                conn.execute(delete(schema.roles).where(and_(
                    schema.roles.c.project_id == project_id,
                    schema.roles.c.user_id == user_id)))  # fmt: skip
            self._journal(conn, project, f"revoke {role}", actor=holder)

    def _roles_of(self, conn: Connection, project_id: int) -> list[tuple[str, str]]:
        """``(holder, role)`` of a project as this transaction sees it (groups with @)."""
        users = conn.execute(
            select(schema.users.c.name, schema.roles.c.role)
            .join(schema.roles, schema.roles.c.user_id == schema.users.c.id)
            .where(schema.roles.c.project_id == project_id)
        ).all()
        groups = conn.execute(
            select(schema.access_groups.c.name, schema.group_roles.c.role)
            .join(schema.group_roles, schema.group_roles.c.group_id == schema.access_groups.c.id)
            .where(schema.group_roles.c.project_id == project_id)
        ).all()
        return [*((r.name, r.role) for r in users),
                *((GROUP_PREFIX + r.name, r.role) for r in groups)]  # fmt: skip

    def _keep_an_owner(self, conn: Connection, project: str, project_id: int, holder: str) -> None:
        """Refuse to take the owner role from ``holder`` when no other owner would remain."""
        owners = [name for name, role in self._roles_of(conn, project_id) if role == OWNER]
        if owners == [holder]:
            raise UsageError(f"{holder} is the last owner of {project}; grant another owner"
                             " first")  # fmt: skip

    def project_roles(self, project: str) -> list[tuple[str, str]]:
        """``(holder, role)`` pairs of ``project``: users by name, then ``@groups``."""
        access = self.project_access(project)
        return holders(access) if access is not None else []

    def project_access(self, project: str) -> ProjectAccess | None:
        """Visibility and roles of ``project``; None when there is no such project."""
        with self._connect() as conn:
            found = conn.execute(
                select(schema.projects.c.id, schema.projects.c.private)
                .where(schema.projects.c.name == project)
            ).first()  # fmt: skip
            if found is None:
                return None
            users = conn.execute(
                select(schema.users.c.name, schema.roles.c.role)
                .join(schema.roles, schema.roles.c.user_id == schema.users.c.id)
                .where(schema.roles.c.project_id == found.id)
            ).all()
            groups = conn.execute(
                select(schema.access_groups.c.name, schema.group_roles.c.role)
                .join(schema.group_roles,
                      schema.group_roles.c.group_id == schema.access_groups.c.id)
                .where(schema.group_roles.c.project_id == found.id)
            ).all()  # fmt: skip
        return ProjectAccess(bool(found.private), {r.name: r.role for r in users},
                             {r.name: r.role for r in groups})  # fmt: skip

    def private_projects(self) -> frozenset[str]:
        with self._connect() as conn:
            rows = conn.execute(
                select(schema.projects.c.name).where(schema.projects.c.private.is_(True))
            ).all()
        return frozenset(row.name for row in rows)

    def set_private(self, project: str, private: bool, audit: AuditNote | None = None) -> bool:
        """Make ``project`` private or public (creating it, so that a name can be kept
        private before its first upload); whether anything changed."""
        with self._change("change the project's visibility", audit) as conn:
            txn = AccessWriter(self, conn)
            txn.ensure_project(project, project)
            return txn.set_private(project, private)

    # -- the upstream guard's rules ---------------------------------------------------------

    def upstream_rules(self) -> dict[str, UpstreamRule]:
        """Every name with a rule (reserved, tracked, or its own quarantine)."""
        with self._connect() as conn:
            return {rule.name: rule for rule in _upstream_rules(conn)}

    def set_upstream_rule(
        self, name: str, audit: AuditNote | None = None, *, reserved: bool | None = None,
        tracked: bool | None = None, min_age: float | Literal["unset"] | None = "unset",
    ) -> bool:  # fmt: skip
        """Change the rule of ``name`` (normalized); whether anything changed. Journaled, so
        that every worker's pages follow at once, and part of the access state (a rebuilt
        catalog has it back: :mod:`pubkit.server.access_state`)."""
        with self._change("change the upstream rule", audit) as conn:
            txn = AccessWriter(self, conn)
            old = txn.upstream_rule(name)
            new = UpstreamRule(
                name,
                old.reserved if reserved is None else reserved,
                old.tracked if tracked is None else tracked,
                old.min_age if min_age == "unset" else min_age,
            )
            return txn.set_upstream_rule(new)

    # -- groups ----------------------------------------------------------------------------

    def add_group(self, name: str, audit: AuditNote | None = None) -> Group:
        try:
            with self._change("add the group", audit) as conn:
                AccessWriter(self, conn).add_group(name)
        except IntegrityError:
            raise AlreadyExistsError(
                f"group {name!r} already exists; `pubkit group list` shows its members"
            ) from None
        group = self.group(name)
        assert group is not None
        return group

    def remove_group(self, name: str, audit: AuditNote | None = None) -> None:
        """Remove a group, its memberships and the roles it held."""
        with self._change("remove the group", audit) as conn:
            result = conn.execute(
                delete(schema.access_groups).where(schema.access_groups.c.name == name)
            )
            if result.rowcount == 0:
                raise NotFoundError(f"no group {name!r}; `pubkit group list` shows the groups")
            self._journal(conn, "", "remove group", actor=name)

    def group(self, name: str) -> Group | None:
        found = [group for group in self.groups(name) if group.name == name]
        return found[0] if found else None

    def groups(self, name: str | None = None) -> list[Group]:
        """Every group (or the one named) with its members, by name."""
        with self._connect() as conn:
            return _groups(conn, name)

    def groups_of(self, user: str) -> frozenset[str]:
        """The groups ``user`` is a member of."""
        with self._connect() as conn:
            rows = conn.execute(
                select(schema.access_groups.c.name)
                .join(schema.group_members,
                      schema.group_members.c.group_id == schema.access_groups.c.id)
                .join(schema.users, schema.group_members.c.user_id == schema.users.c.id)
                .where(schema.users.c.name == user)
            ).all()  # fmt: skip
        return frozenset(row.name for row in rows)

    def set_member(
        self, group: str, user: str, member: bool, audit: AuditNote | None = None
    ) -> bool:
        """Add ``user`` to ``group`` (or take them out); whether anything changed."""
        with self._change("change the group's members", audit) as conn:
            return AccessWriter(self, conn).set_member(group, user, member)

    def grant_group(
        self, project: str, group: str, role: str, audit: AuditNote | None = None
    ) -> None:
        """Give ``group`` ``role`` on ``project`` (created if absent), replacing its role;
        taking the owner role from the last owner is refused."""
        with self._change("grant the role", audit) as conn:
            txn = AccessWriter(self, conn)
            txn.ensure_project(project, project)
            if role != OWNER:
                project_id = self._id_of(conn, schema.projects, project, "project")
                self._keep_an_owner(conn, project, project_id, GROUP_PREFIX + group)
            txn.set_group_role(project, group, role)

    @staticmethod
    def _id_of(conn: Connection, table: Any, name: str, kind: str) -> int:
        found = conn.execute(select(table.c.id).where(table.c.name == name)).scalar()
        if found is None:
            hint = {"user": "; `pubkit user list` shows who exists",
                    "group": "; `pubkit group list` shows the groups"}.get(kind, "")  # fmt: skip
            raise NotFoundError(f"no {kind} {name!r}{hint}")
        return int(found)

    def _grant(
        self, conn: Connection, project: str, project_id: int, user: str, user_id: int, role: str
    ) -> None:
        conn.execute(
            delete(schema.roles).where(
                and_(schema.roles.c.project_id == project_id, schema.roles.c.user_id == user_id)
            )
        )
        conn.execute(insert(schema.roles).values(project_id=project_id, user_id=user_id, role=role))
        self._journal(conn, project, f"grant {role}", actor=user)

    # -- tokens ----------------------------------------------------------------------------

    def add_token(
        self, token_id: str, stored_hash: str, user: User, permission: str,
        projects: tuple[str, ...] | None, description: str | None, expires: datetime | None,
        audit: AuditNote | None = None,
    ) -> Token:  # fmt: skip
        token = Token(token_id, user.name, permission, projects, description, utc_now(), expires,
                      None, None)  # fmt: skip
        with self._change("create the token", audit) as conn:
            conn.execute(insert(schema.tokens).values(_token_values(token, user.id, stored_hash)))
            self._journal(conn, "", "add token", actor=user.name)
        found = self.token(token_id)
        assert found is not None
        return found[0]

    def _token_rows(self) -> Any:
        return select(schema.tokens, schema.users.c.name.label("user_name")).join(
            schema.users, schema.tokens.c.user_id == schema.users.c.id
        )

    def token(self, token_id: str) -> tuple[Token, str, User] | None:
        """A token, its stored hash and its user, in one query."""
        with self._connect() as conn:
            row = conn.execute(
                self._token_rows().add_columns(
                    schema.users.c.password_hash, schema.users.c.is_admin,
                    schema.users.c.created.label("user_created"), schema.users.c.disabled,
                ).where(schema.tokens.c.id == token_id)
            ).first()  # fmt: skip
        if row is None:
            return None
        user = User(row.user_id, row.user_name, row.password_hash, bool(row.is_admin),
                    _aware(row.user_created), bool(row.disabled))  # fmt: skip
        return _token(row), row.secret_hash, user

    def tokens(self, user: str | None = None) -> list[Token]:
        query = self._token_rows().order_by(schema.tokens.c.created)
        if user is not None:
            query = query.where(schema.users.c.name == user)
        with self._connect() as conn:
            return [_token(row) for row in conn.execute(query).all()]

    def revoke_token(self, token_id: str, audit: AuditNote | None = None) -> Token:
        with self._change("revoke the token", audit) as conn:
            result = conn.execute(
                update(schema.tokens)
                .where(and_(schema.tokens.c.id == token_id, schema.tokens.c.revoked.is_(None)))
                .values(revoked=utc_now())
            )
            if result.rowcount:
                self._journal(conn, "", "revoke token", actor=token_id)
        found = self.token(token_id)
        if found is None:
            raise NotFoundError(f"no token {token_id!r}; `pubkit token list` shows them")
        return found[0]

    def touch_token(self, token_id: str) -> None:
        """Record a use; not journaled: it changes nothing a page or a permission shows."""
        with self._write() as conn:
            conn.execute(update(schema.tokens).where(schema.tokens.c.id == token_id)
                         .values(last_used=utc_now()))  # fmt: skip

    # -- access data: export and import -----------------------------------------------------

    def access(self) -> Access:
        """Every user, group, project, role and token, read in one transaction (a consistent
        backup: no role, membership or token of a user or group the same read does not show)."""
        with self._connect() as conn:
            if not self.is_sqlite:
                # Read committed would give each query its own snapshot.
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                return self._access(conn)

    def _access(self, conn: Connection) -> Access:
        users = conn.execute(select(schema.users).order_by(schema.users.c.name)).all()
        projects = conn.execute(
            select(schema.projects.c.name, schema.projects.c.display_name,
                   schema.projects.c.created, schema.projects.c.private)
            .order_by(schema.projects.c.name)
        ).all()  # fmt: skip
        roles = conn.execute(
            select(schema.projects.c.name.label("project"), schema.users.c.name.label("user"),
                   schema.roles.c.role)
            .join(schema.projects, schema.roles.c.project_id == schema.projects.c.id)
            .join(schema.users, schema.roles.c.user_id == schema.users.c.id)
            .order_by(schema.projects.c.name, schema.users.c.name)
        ).all()  # fmt: skip
        tokens = conn.execute(
            self._token_rows().order_by(schema.tokens.c.created, schema.tokens.c.id)
        ).all()
        group_roles = conn.execute(
            select(schema.projects.c.name.label("project"),
                   schema.access_groups.c.name.label("group"), schema.group_roles.c.role)
            .join(schema.projects, schema.group_roles.c.project_id == schema.projects.c.id)
            .join(schema.access_groups,
                  schema.group_roles.c.group_id == schema.access_groups.c.id)
            .order_by(schema.projects.c.name, schema.access_groups.c.name)
        ).all()  # fmt: skip
        return Access(
            users=tuple(_user(row) for row in users),
            projects=tuple(Project(r.name, r.display_name, _aware(r.created), bool(r.private))
                           for r in projects),
            roles=tuple(Role(row.project, row.user, row.role) for row in roles),
            tokens=tuple((_token(row), row.secret_hash) for row in tokens),
            groups=tuple(_groups(conn)),
            group_roles=tuple(GroupRole(row.project, row.group, row.role) for row in group_roles),
            upstream_rules=tuple(_upstream_rules(conn)),
        )  # fmt: skip

    @contextlib.contextmanager
    def transaction(
        self, restoring: int | None = None, restored: Any = None
    ) -> Iterator[AccessWriter]:
        """Writes of users, groups, projects, roles and tokens that commit together or not at
        all. ``restoring``: the access snapshot they restore (see :meth:`_change`).

        Database errors pass through untranslated (the caller knows what its statements hold).
        """
        with self._change("change the users and roles", restoring=restoring,
                          restored=restored) as conn:  # fmt: skip
            yield AccessWriter(self, conn)

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

    @staticmethod
    def _insert_audit(conn: Connection, note: AuditNote) -> None:
        details = json.dumps(note.detail, sort_keys=True, default=str) if note.detail else None
        conn.execute(insert(schema.audit).values(
            time=utc_now(), actor=note.actor[:_AUDIT_ACTOR] if note.actor else note.actor,
            address=note.address[:_AUDIT_ADDRESS] if note.address else note.address,
            action=note.action[:_AUDIT_ACTION], target=note.target, detail=details,
        ))  # fmt: skip

    @staticmethod
    def _log_audit(note: AuditNote) -> None:
        if audit_log.isEnabledFor(logging.INFO):
            audit_log.info(json.dumps({
                "audit": note.action, "target": note.target, "actor": note.actor,
                "address": note.address, "time": utc_now().isoformat(), "detail": note.detail,
            }, default=str))  # fmt: skip

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


_REBUILD_FIX = (
    "(written by an older development build?); move the catalog aside and run"
    " `pubkit index rebuild`, then re-create users"
)
# The tables of revision 0001, which a catalog from before migrations is stamped at.
_INITIAL_TABLES = ("catalog_info", "projects", "files", "users", "roles", "journal")
_MIGRATION_LOCK = 0x7075626B6974  # "pubkit": one advisory lock id for schema upgrades
_ACCESS_LOCK = 0x7075626B6961  # "pubkia": access changes take turns under it


def _alembic_config(conn: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = conn
    return config


def _known_revisions(config: Any) -> set[str]:
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
