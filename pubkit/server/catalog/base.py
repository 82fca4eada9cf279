"""What the catalog's two parts stand on (:class:`~pubkit.server.catalog.access.AccessCatalog`,
the access data, and :class:`~pubkit.server.catalog.catalog.Catalog`, the files and projects):
the engine and its schema (created, or upgraded by alembic), pooled connections whose failures
are one-line CatalogErrors, the change transaction that journals itself, writes its audit row
and hands the access state to storage before it commits, and the catalog serial."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, func, insert, inspect, select, text, update
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from pubkit.core.accounts import Group
from pubkit.errors import CatalogError
from pubkit.server.catalog import schema
from pubkit.server.catalog.records import (
    Access,
    AuditNote,
    GroupRole,
    Project,
    Role,
    UpstreamRule,
    _aware,
    _token,
    _user,
)
from pubkit.server.dependencies import may_block
from pubkit.server.layout import utc_now

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


class CatalogBase:
    """The engine, its connections and transactions, the journal and the serial; one
    instance per process (as a :class:`~pubkit.server.catalog.catalog.Catalog`), safe across
    threads."""

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

    def _token_rows(self) -> Any:
        return select(schema.tokens, schema.users.c.name.label("user_name")).join(
            schema.users, schema.tokens.c.user_id == schema.users.c.id
        )

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

    # -- the catalog serial ----------------------------------------------------------------

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

    # -- what every write does: the journal, the project's row -----------------------------

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

    # -- audit rows ------------------------------------------------------------------------

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
