"""Regression tests of issue 13's access findings: the audit row in the change's own
transaction (7), cross-site writes (8), owners revoked at the same moment (10), and the access
state's snapshots in storage (4: the unit side; tests/e2e/test_rebuild.py drives the CLI)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from pubkit.errors import CatalogError, StorageError, UsageError
from pubkit.server import admin
from pubkit.server.access_state import PREFIX, AccessSnapshots, snapshot_numbers
from pubkit.server.app import create_app
from pubkit.server.catalog import Catalog, open_catalog, schema
from pubkit.server.storage.memory import MemoryStorage
from pubkit.settings import load_server_settings
from pubkit.testing import make_wheel
from tests.conftest import postgres_database
from tests.server.conftest import PASSWORD, Index, basic, upload_fields


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    else:
        with postgres_database() as url:
            yield url


def _audit_rows(catalog: Catalog) -> list[tuple[str, str, str | None]]:
    with catalog.engine.connect() as conn:
        rows = conn.execute(select(schema.audit.c.action, schema.audit.c.target,
                                   schema.audit.c.address)).all()  # fmt: skip
    return [(row.action, row.target, row.address) for row in rows]


def _upload(client: TestClient, wheel: Path, **headers: str):  # type: ignore[no-untyped-def]
    files = {"content": (wheel.name, wheel.read_bytes(), "application/octet-stream")}
    return client.post("/", data=upload_fields(wheel), files=files,
                       headers={**basic("alice"), **headers})  # fmt: skip


# -- finding 7 -----------------------------------------------------------------------------


def test_finding_7_audit_in_the_changes_transaction_and_addresses_bounded(
    catalog_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pubkit.server.auth.passwords.LOG2_N", 10)
    settings = load_server_settings({"data_dir": tmp_path / "data", "catalog": catalog_url},
                                    environ={})  # fmt: skip
    app = create_app(settings)
    # What uvicorn does with PUBKIT_TRUSTED_PROXIES=*: the client is X-Forwarded-For's.
    with TestClient(ProxyHeadersMiddleware(app, trusted_hosts="*")) as client:
        catalog: Catalog = app.state.services.catalog
        admin.add_user(catalog, "alice", PASSWORD)
        long_forwarded = "x" * 100
        first = make_wheel(tmp_path / "d", "audited", "1.0")
        answer = _upload(client, first, **{"X-Forwarded-For": long_forwarded})
        assert answer.status_code == 200, answer.text
        second = make_wheel(tmp_path / "d", "audited", "2.0")
        answer = _upload(client, second, **{"X-Forwarded-For": "2001:DB8::0:1, 10.0.0.1"})
        assert answer.status_code == 200, answer.text
        uploads = [row for row in _audit_rows(catalog) if row[0] == "upload"]
        assert uploads == [("upload", first.name, "unknown"),
                           ("upload", second.name, "2001:db8::1")]  # fmt: skip

        # An audit row that cannot be written undoes the change it records.
        def broken(*_args: object) -> None:
            raise OperationalError("INSERT INTO audit", {}, Exception("disk full"))

        monkeypatch.setattr(Catalog, "_insert_audit", staticmethod(broken))
        third = make_wheel(tmp_path / "d", "audited", "3.0")
        assert _upload(client, third).status_code == 503
        assert catalog.file(third.name) is None
        with pytest.raises(CatalogError):
            admin.Admin(catalog, lambda: app.state.services.storage, "root").add_user(
                "carol", PASSWORD)
        assert catalog.user("carol") is None


# -- finding 8 -----------------------------------------------------------------------------


def test_finding_8_cross_site_writes_are_refused(index: Index, dist_dir: Path) -> None:
    wheel = make_wheel(dist_dir, "xsite", "1.0")
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                    {"Sec-Fetch-Site": "same-site"}, {"Sec-Fetch-Site": "cross-site"}):  # fmt: skip
        refused = _upload(index.client, wheel, **headers)
        assert refused.status_code == 403, (headers, refused.text)
        assert "cross-site" in refused.text
    assert index.catalog.file(wheel.name) is None
    # The page's own origin, and clients that are no browser, upload.
    assert _upload(index.client, wheel, Origin="http://testserver").status_code == 200
    yank = "/api/v1/projects/xsite/releases/1.0/yank"
    owner = basic("alice")
    # A form (what a browser can send anywhere without asking first): 415, nothing yanked.
    form = index.client.post(yank, headers={**owner, "Content-Type":
                                            "application/x-www-form-urlencoded"}, content=b"")
    assert form.status_code == 415, form.text
    for headers in ({"Sec-Fetch-Site": "same-site"}, {"Origin": "https://evil.example"}):
        refused = index.client.post(yank, headers={**owner, **headers}, json={})
        assert refused.status_code == 403, refused.text
    record = index.catalog.file(wheel.name)
    assert record is not None and not record.yanked
    assert index.client.post(yank, headers=owner, json={"reason": "ok"}).status_code == 200


# -- finding 10 ----------------------------------------------------------------------------


def test_finding_10_concurrent_owner_revokes_leave_an_owner(
    catalog_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pubkit.server.auth.passwords.LOG2_N", 10)
    catalog = open_catalog(catalog_url)
    storage = MemoryStorage()
    catalog.access_state = AccessSnapshots(storage)
    try:
        operations = admin.Admin(catalog, lambda: storage, "root")
        for name in ("ann", "ben"):
            operations.add_user(name, PASSWORD)
        projects = [f"proj-{number}" for number in range(8)]
        for project in projects:
            operations.grant(project, "ann", "owner")
            operations.grant(project, "ben", "owner")
        outcomes: list[str] = []
        start = threading.Barrier(2 * len(projects))

        def revoke(project: str, holder: str) -> None:
            start.wait()
            try:
                operations.revoke(project, holder, "owner")
                outcomes.append("revoked")
            except UsageError:
                outcomes.append("refused")

        threads = [threading.Thread(target=revoke, args=(project, holder))
                   for project in projects for holder in ("ann", "ben")]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(outcomes) == ["refused"] * len(projects) + ["revoked"] * len(projects)
        for project in projects:
            owners = [h for h, role in catalog.project_roles(project) if role == "owner"]
            assert len(owners) == 1, (project, owners)
        # Demoting the last owner by a grant is refused as well.
        last = next(h for h, role in catalog.project_roles(projects[0]) if role == "owner")
        with pytest.raises(UsageError, match="last owner"):
            operations.grant(projects[0], last, "maintainer")
        # Every change went to storage, in order, each snapshot holding all before it.
        assert snapshot_numbers(storage)[-1] == catalog.access_snapshot()
    finally:
        catalog.close()


# -- finding 4, the storage side ------------------------------------------------------------


def test_finding_4_access_changes_are_stored_before_they_commit(
    index: Index, tmp_path: Path
) -> None:
    storage = index.services.storage
    before = snapshot_numbers(storage)
    index.admin().set_private("hidden", True)
    numbers = snapshot_numbers(storage)
    assert numbers[-1] == before[-1] + 1 == index.catalog.access_snapshot()
    stored = storage.local_path(f"{PREFIX}{numbers[-1]:016d}.json")
    assert stored is not None
    assert stored.stat().st_mode & 0o077 == 0  # password hashes: 0600
    assert '"private":true' in stored.read_text().replace(" ", "")
    assert len(numbers) <= 10  # older snapshots are pruned

    # Storage refuses: the change is undone, the caller told.
    def refuse(*_args: object) -> bool:
        raise StorageError("could not store: the disk is full")

    index.services.storage.put_new = refuse  # type: ignore[method-assign]
    with pytest.raises(StorageError, match="disk is full"):
        index.admin().add_user("dora", PASSWORD)
    assert index.catalog.user("dora") is None
    del index.services.storage.put_new

    # A new catalog on this storage refuses access changes until rebuilt from it.
    fresh = open_catalog(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    fresh.access_state = AccessSnapshots(storage)
    try:
        with pytest.raises(CatalogError, match="index rebuild"):
            admin.add_user(fresh, "eve", PASSWORD)
        report = admin.rebuild_catalog(storage, fresh)
        assert report.access is not None and fresh.private_projects() == {"hidden"}
        admin.add_user(fresh, "eve", PASSWORD)  # level with storage now
        assert fresh.user("eve") is not None
    finally:
        fresh.close()


def test_finding_4_rebuild_fails_closed_without_access_state(
    index: Index, dist_dir: Path, tmp_path: Path
) -> None:
    assert index.upload(make_wheel(dist_dir, "lonely", "1.0")).status_code == 200
    storage = index.services.storage
    for number in snapshot_numbers(storage):
        storage.delete(f"{PREFIX}{number:016d}.json")
    empty = open_catalog(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        with pytest.raises(admin.AccessStateMissing, match="--without-access"):
            admin.rebuild_catalog(storage, empty)
        assert empty.all_files() == []  # nothing changed
        assert admin.rebuild_catalog(storage, empty, without_access=True).added == 1
        # An unreadable snapshot stops a rebuild before anything changes.
        broken = storage.local_path(f"{PREFIX}{1:016d}.json")
        assert broken is not None
        broken.parent.mkdir(parents=True, exist_ok=True)
        broken.write_text("{not json")
        with pytest.raises(CatalogError, match="not valid JSON"):
            admin.rebuild_catalog(storage, empty)
    finally:
        empty.close()
    # The server's own catalog, with users, re-seeds an empty storage on a rebuild.
    broken.unlink()
    assert admin.rebuild_catalog(storage, index.catalog).access_seeded
