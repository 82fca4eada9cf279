"""Opening a catalog: the engine for its URL (SQLite: the file's mode, WAL, its pragmas and
how its transactions begin; PostgreSQL: :mod:`pubkit.server.catalog.postgres`), then its
schema (:meth:`Catalog.create_schema`)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

from pubkit.errors import CatalogError, ConfigurationError
from pubkit.server.catalog.catalog import Catalog
from pubkit.settings import redact_url


def _switch_to_wal(cursor: Any, patience: float = 10.0) -> None:
    """WAL mode (persistent, so only a new database needs the switch). The switch does not
    wait on the busy timeout: connections opening a new catalog together retry it."""
    deadline = time.monotonic() + patience
    while cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # We issue BEGIN ourselves (see _sqlite_begin); WAL lets readers run beside a writer.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # Writers take the write lock up front so two workers never deadlock upgrading a read lock.
    immediate = conn.get_execution_options().get("pubkit_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _private_sqlite_file(path: Path) -> None:
    """The catalog's directory, and its file created 0600 (it holds password and token
    hashes; SQLite gives the WAL and shared-memory files the same mode)."""
    from pubkit.server.private_files import ensure_directory, ensure_private_file

    hint = "choose another --data-dir or --catalog"
    ensure_directory(path.parent, "the catalog's directory", hint)
    ensure_private_file(path, "the catalog", hint)


def open_catalog(url: str, create: bool = True) -> Catalog:
    """``sqlite:///path`` (the default) or ``postgresql://…``."""
    if url.startswith("sqlite:"):
        path = url.removeprefix("sqlite:///")
        if path and path != url and not path.startswith(":memory:"):
            _private_sqlite_file(Path(path))
        engine = create_engine(url.replace("sqlite:", "sqlite+pysqlite:", 1))
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    elif url.startswith(("postgresql:", "postgres:")):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise ConfigurationError(
                "a PostgreSQL catalog needs psycopg: pip install 'pubkit[postgres]'"
            ) from None
        from pubkit.server.catalog.postgres import postgres_engine

        engine = postgres_engine(url)
    else:
        raise ConfigurationError(
            f"catalog URL {url!r} is not understood; use sqlite:///PATH or postgresql://…"
        )
    catalog = Catalog(engine)
    if create:
        try:
            catalog.create_schema()
        except SQLAlchemyError as error:
            raise CatalogError(
                f"could not open the catalog at {redact_url(url)}: {error}; check the catalog URL"
            ) from error
    return catalog
