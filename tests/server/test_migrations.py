"""Catalog schema migrations (alembic), on SQLite and on the local PostgreSQL server: a new
catalog starts at the newest revision; an older one, with data, is upgraded when opened and
keeps every row; a catalog from a newer pubkit is refused."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, inspect, text

from pubkit.errors import CatalogError
from pubkit.server.catalog import open_catalog
from pubkit.server.catalog.base import _alembic_config
from pubkit.server.catalog.records import _file_values
from pubkit.server.catalog.schema import SCHEMA_REVISION, metadata
from pubkit.server.layout import FileRecord
from tests.conftest import postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
        return
    with postgres_database("pubkit_migrations") as url:
        yield url


def engine_of(url: str) -> Engine:
    if url.startswith("postgresql:"):
        return create_engine("postgresql+psycopg:" + url.split(":", 1)[1])
    return create_engine(url)


def at_revision(url: str, revision: str) -> None:
    """The catalog as a pubkit whose newest migration is ``revision`` left it."""
    engine = engine_of(url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)
    engine.dispose()


def revision_of(url: str) -> str | None:
    engine = engine_of(url)
    with engine.connect() as conn:
        found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    return found


def record(name: str, version: str) -> FileRecord:
    return FileRecord(
        project=name, display_name=name, version=version,
        filename=f"{name}-{version}-py3-none-any.whl", packagetype="bdist_wheel", size=10,
        sha256="a" * 64, md5="b" * 32, blake2_256="c" * 64, requires_python=">=3.10",
        metadata_sha256="d" * 64, upload_time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        uploader="alice", yanked=version == "1.0",
        yanked_reason="bad" if version == "1.0" else None,
    )  # fmt: skip


def fill(url: str) -> None:
    """Rows written as a 0.1 catalog holds them (plain SQL: today's code writes today's
    columns)."""
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    engine = engine_of(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (name, password_hash, is_admin, created)"
                " VALUES ('alice', 'scrypt$hash', :yes, :t)"
            ),
            {"yes": True, "t": moment},
        )
        conn.execute(
            text(
                "INSERT INTO projects (name, display_name, created, last_serial)"
                " VALUES ('demo', 'demo', :t, 3)"
            ),
            {"t": moment},
        )
        conn.execute(
            text(
                "INSERT INTO roles (project_id, user_id, role) SELECT p.id, u.id,"
                " 'owner' FROM projects p, users u"
            )
        )
        for version in ("1.0", "2.0"):
            values = {**_file_values(record("demo", version)), "t": moment}
            conn.execute(
                text(
                    "INSERT INTO files (project_id, filename, canonical_filename, version,"
                    " packagetype, size, sha256, md5, blake2_256, requires_python, metadata_sha256,"
                    " upload_time, uploader, yanked, yanked_reason) SELECT id, :filename,"
                    " :canonical_filename, :version, :packagetype, :size, :sha256, :md5,"
                    " :blake2_256,"
                    " :requires_python, :metadata_sha256, :t, :uploader, :yanked, :yanked_reason"
                    " FROM projects"
                ),
                values,
            )
        for action in ("create project", "add file", "add file"):
            conn.execute(
                text("INSERT INTO journal (project, action, time) VALUES ('demo', :a, :t)"),
                {"a": action, "t": moment},
            )
    engine.dispose()  # fmt: skip


def test_a_new_catalog_starts_at_the_newest_revision(catalog_url: str) -> None:
    open_catalog(catalog_url).close()
    assert revision_of(catalog_url) == SCHEMA_REVISION
    engine = engine_of(catalog_url)
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()


@pytest.mark.parametrize("without_version_table", [False, True])
def test_an_older_catalog_is_upgraded_and_keeps_its_rows(
    catalog_url: str, without_version_table: bool
) -> None:
    at_revision(catalog_url, "0001")
    fill(catalog_url)
    if without_version_table:  # a catalog from before pubkit had migrations
        engine = engine_of(catalog_url)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE alembic_version"))
        engine.dispose()

    upgraded = open_catalog(catalog_url)
    assert [(user.name, user.is_admin) for user in upgraded.users()] == [("alice", True)]
    files = sorted(upgraded.all_files(), key=lambda file: file.filename)
    assert files == [record("demo", "1.0"), record("demo", "2.0")]
    assert upgraded.serial() == 3
    assert upgraded.project_roles("demo") == [("alice", "owner")]
    assert upgraded.private_projects() == frozenset()
    assert revision_of(catalog_url) == SCHEMA_REVISION
    upgraded.close()
    open_catalog(catalog_url).close()  # opening again changes nothing
    assert revision_of(catalog_url) == SCHEMA_REVISION


def test_a_catalog_from_a_newer_pubkit_is_refused(catalog_url: str) -> None:
    open_catalog(catalog_url).close()
    engine = engine_of(catalog_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(CatalogError, match="revision 9999, which this pubkit does not know"):
        open_catalog(catalog_url)


def test_replicas_opening_a_new_catalog_together_agree(catalog_url: str) -> None:
    errors: list[BaseException] = []

    def open_once() -> None:
        try:
            open_catalog(catalog_url).close()
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=open_once) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert revision_of(catalog_url) == SCHEMA_REVISION
