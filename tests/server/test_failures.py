"""Faults between storage and catalog: nothing half-done is ever listed, and nothing is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from pubkit.errors import CatalogError, StorageError
from pubkit.server.admin import rebuild_catalog
from pubkit.server.layout import file_key, sidecar_key
from pubkit.testing import make_wheel
from tests.server.conftest import Index


def test_catalog_failure_after_storage_leaves_an_unlisted_complete_file(
    index: Index, dist_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = make_wheel(dist_dir, "demo", "1.0")

    def broken(*_args: object) -> None:
        raise CatalogError("could not record the upload: database is locked; retry")

    with monkeypatch.context() as patch:
        patch.setattr(index.catalog, "add_file", broken)
        response = index.upload(wheel)
    assert response.status_code == 503
    assert "retry" in response.text
    assert index.client.get("/simple/demo/").status_code == 404
    assert index.client.get(f"/files/demo/{wheel.name}").status_code == 404
    storage = index.services.storage
    assert storage.size(sidecar_key("demo", wheel.name)) is not None
    # Retrying the same upload completes it: the stored bytes are identical.
    assert index.upload(wheel).status_code == 200
    assert wheel.name in index.client.get("/simple/demo/").text


def test_rebuild_adopts_a_file_whose_commit_never_happened(
    index: Index, dist_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = make_wheel(dist_dir, "demo", "1.0")
    with monkeypatch.context() as patch:
        patch.setattr(index.catalog, "add_file", lambda *_a: (_ for _ in ()).throw(
            CatalogError("gone")))
        assert index.upload(wheel).status_code == 503
    report = rebuild_catalog(index.services.storage, index.catalog)
    assert report.added == 1
    assert wheel.name in index.client.get("/simple/demo/").text


def test_storage_failure_stores_and_lists_nothing(
    index: Index, dist_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = make_wheel(dist_dir, "demo", "1.0")

    def full(*_args: object) -> bool:
        raise StorageError("could not store demo/x in /data: No space left on device")

    monkeypatch.setattr(index.services.storage, "put_new", full)
    response = index.upload(wheel)
    assert response.status_code == 503
    assert "No space left" in response.text
    assert index.catalog.all_files() == []
    assert index.services.storage.size(file_key("demo", wheel.name)) is None
    assert list((index.data_dir / "tmp").iterdir()) == []


def test_a_catalog_with_an_older_schema_is_refused_at_open(tmp_path: Path) -> None:
    import sqlite3

    from pubkit.server.catalog import open_catalog

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE files (id INTEGER PRIMARY KEY, filename TEXT)")
    with pytest.raises(CatalogError, match=r"lacks the table catalog_info .*index rebuild"):
        open_catalog(f"sqlite:///{path}")
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE catalog_info (key TEXT PRIMARY KEY, value TEXT)")
        for table in ("projects", "users", "roles", "journal"):
            old.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)")
    with pytest.raises(CatalogError, match=r"table \w+ lacks "):
        open_catalog(f"sqlite:///{path}")
