from __future__ import annotations

import hashlib
from pathlib import Path

from pubkit.server.admin import rebuild_catalog
from pubkit.server.catalog import open_catalog
from pubkit.server.layout import file_key, sidecar_key
from pubkit.testing import make_wheel
from tests.server.conftest import Index, basic


def _file_url(index: Index, project: str) -> str:
    files = index.client.get(f"/simple/{project}/",
                             headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    url: str = files.json()["files"][0]["url"]
    return "/" + url.removeprefix("../../")


def test_download_and_head(index: Index, dist_dir: Path) -> None:
    wheel = make_wheel(dist_dir, "demo", "1.0")
    index.upload(wheel)
    url = _file_url(index, "demo")
    response = index.client.get(url)
    assert response.content == wheel.read_bytes()
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-length"] == str(wheel.stat().st_size)
    assert "immutable" in response.headers["cache-control"]
    head = index.client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(wheel.stat().st_size)
    etag = response.headers["etag"]
    assert index.client.get(url, headers={"If-None-Match": etag}).status_code == 304


def test_core_metadata_endpoint(index: Index, dist_dir: Path) -> None:
    wheel = make_wheel(dist_dir, "demo", "1.0", requires=["requests>=2"])
    index.upload(wheel)
    url = _file_url(index, "demo") + ".metadata"
    response = index.client.get(url)
    assert response.status_code == 200
    assert b"Requires-Dist: requests>=2" in response.content
    listed = index.client.get("/simple/demo/", headers={"Accept":
                              "application/vnd.pypi.simple.v1+json"}).json()["files"][0]
    assert listed["core-metadata"]["sha256"] == hashlib.sha256(response.content).hexdigest()


def test_unknown_and_misplaced_files_are_404(index: Index, dist_dir: Path) -> None:
    index.upload(make_wheel(dist_dir, "demo", "1.0"))
    assert index.client.get("/files/demo/demo-9.0-py3-none-any.whl").status_code == 404
    assert index.client.get("/files/other/demo-1.0-py3-none-any.whl").status_code == 404
    assert index.client.get("/files/demo/..%2F..%2Fcatalog.sqlite3").status_code == 404


def test_orphan_in_storage_is_not_served(index: Index, dist_dir: Path) -> None:
    wheel = make_wheel(dist_dir, "ghost", "1.0")
    index.services.storage.put_new(file_key("ghost", wheel.name), wheel)
    assert index.client.get(f"/files/ghost/{wheel.name}").status_code == 404
    assert index.client.get("/simple/ghost/").status_code == 404


def test_upload_never_redirects(index: Index, dist_dir: Path) -> None:
    wheel = make_wheel(dist_dir, "demo", "1.0")
    for path in ("/", "/legacy/", "/legacy"):
        from tests.server.conftest import upload_fields

        response = index.client.post(
            path, data=upload_fields(wheel), headers=basic("alice"),
            files={"content": (wheel.name, wheel.read_bytes())}, follow_redirects=False,
        )
        assert response.status_code == 200, (path, response.text)


def test_ownership(index: Index, dist_dir: Path) -> None:
    assert index.upload(make_wheel(dist_dir, "owned", "1.0"), user="alice").status_code == 200
    denied = index.upload(make_wheel(dist_dir, "owned", "2.0"), user="bob")
    assert denied.status_code == 403
    assert "may not upload" in denied.text
    assert index.upload(make_wheel(dist_dir, "owned", "3.0"), user="root").status_code == 200
    bob = index.catalog.user("bob")
    assert bob is not None
    index.catalog.grant("owned", bob, "maintainer")
    assert index.upload(make_wheel(dist_dir, "owned", "4.0"), user="bob").status_code == 200


def test_health_and_ready(index: Index) -> None:
    assert index.client.get("/health").json()["status"] == "ok"
    assert index.client.get("/ready").json() == {"status": "ready"}


def test_ready_reports_a_broken_storage(index: Index) -> None:
    root = index.data_dir / "files"
    if root.exists():
        import shutil

        shutil.rmtree(root)
    root.write_text("a file where the storage directory should be")
    response = index.client.get("/ready")
    assert response.status_code == 503
    assert response.json()["problems"][0].startswith("storage:")
    root.unlink()
    assert index.client.get("/ready").status_code == 200


def test_rebuild_restores_everything(index: Index, dist_dir: Path) -> None:
    index.upload(make_wheel(dist_dir, "demo", "1.0"))
    index.upload(make_wheel(dist_dir, "demo", "2.0"))
    from pubkit.server import admin

    admin.yank_release(index.services.storage, index.catalog, "demo", "1.0", "oops", "alice")
    before = sorted(index.catalog.all_files(), key=lambda r: r.filename)
    fresh = open_catalog(f"sqlite:///{index.data_dir / 'fresh.sqlite3'}")
    fresh.add_user("alice", "x")
    report = rebuild_catalog(index.services.storage, fresh)
    assert (report.added, report.removed, report.incomplete) == (2, 0, [])
    assert sorted(fresh.all_files(), key=lambda r: r.filename) == before
    # The owner comes back from storage's access snapshot (alice's own hash is kept).
    assert report.owners_assigned == []
    assert report.access is not None and report.access.users_kept == ["alice"]
    alice = fresh.user("alice")
    assert alice is not None and fresh.role("demo", alice) == "owner"
    # Running it again changes nothing; a file gone from storage leaves the catalog.
    assert rebuild_catalog(index.services.storage, fresh).added == 0
    index.services.storage.delete(sidecar_key("demo", before[0].filename))
    index.services.storage.delete(file_key("demo", before[0].filename))
    assert rebuild_catalog(index.services.storage, fresh).removed == 1


def test_one_distribution_however_its_name_is_spelled(index: Index, dist_dir: Path) -> None:
    original = make_wheel(dist_dir / "a", "demo", "1.0")
    assert index.upload(original).status_code == 200
    respelled = dist_dir / "Demo-1.0-PY3-none-any.whl"
    respelled.write_bytes(original.read_bytes())
    identical = index.upload(respelled, filename=respelled.name)
    assert identical.status_code == 200, identical.text
    assert "already present, identical" in identical.text
    other = make_wheel(dist_dir / "c", "demo", "1.0", modules={"demo/x.py": "X = 1\n"})
    conflict = index.upload(other, filename="Demo-1.0-py3-none-any.whl")
    assert conflict.status_code == 409, conflict.text
    files = index.client.get("/simple/demo/", headers={
        "Accept": "application/vnd.pypi.simple.v1+json"}).json()["files"]
    assert [f["filename"] for f in files] == [original.name]


def test_large_file_is_streamed_whole(index: Index, dist_dir: Path) -> None:
    import os as _os

    blob = _os.urandom(3 * 1024 * 1024 + 17)  # several chunks, and not a multiple of one
    wheel = make_wheel(dist_dir, "bulky", "1.0", extra_files={"bulky/blob.bin": blob})
    assert index.upload(wheel).status_code == 200
    url = f"/files/bulky/{wheel.name}"
    response = index.client.get(url)
    assert response.content == wheel.read_bytes()
    assert response.headers["content-length"] == str(wheel.stat().st_size)
    head = index.client.head(url)
    assert head.content == b"" and head.headers["content-length"] == str(wheel.stat().st_size)


def test_damaged_storage_is_a_clear_503(index: Index, dist_dir: Path) -> None:
    wheel = make_wheel(dist_dir, "damaged", "1.0")
    index.upload(wheel)
    stored = index.data_dir / "files" / file_key("damaged", wheel.name)
    stored.write_bytes(b"truncated")
    response = index.client.get(f"/files/damaged/{wheel.name}")
    assert response.status_code == 503
    assert "missing or damaged in storage" in response.text


def test_metadata_etag_and_read_only(index: Index, dist_dir: Path) -> None:
    wheel = make_wheel(dist_dir, "meta", "1.0")
    index.upload(wheel)
    url = f"/files/meta/{wheel.name}.metadata"
    first = index.client.get(url)
    assert index.client.get(url, headers={"If-None-Match": first.headers["etag"]}
                            ).status_code == 304
    assert index.client.post(url).status_code == 405
