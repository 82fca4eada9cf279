"""Storage is the truth: the regression tests of issue 13's file findings (1, 2, 3, 9, 10a,
11), `pubkit index verify`, and the commit protocol's crash windows."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from pubkit.cli import main
from pubkit.server import commit as commit_module
from pubkit.server.admin import rebuild_catalog
from pubkit.server.app import create_app
from pubkit.server.layout import (
    ACCESS_PREFIX,
    FileRecord,
    file_key,
    metadata_key,
    sidecar_key,
    staged_key,
)
from pubkit.server.storage import Storage
from pubkit.server.verify import verify
from pubkit.settings import load_server_settings
from pubkit.testing import core_metadata, make_sdist, make_wheel
from tests.conftest import postgres_database
from tests.server.conftest import Index

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


def files_in(storage: Storage) -> list[Any]:
    return [obj for obj in storage.list() if not obj.key.startswith(ACCESS_PREFIX)]


def objects(storage: Storage) -> dict[str, str]:
    """Every object in storage and the sha256 of its bytes (the access snapshots aside: every
    user added writes one)."""
    return {obj.key: hashlib.sha256(storage.read_bytes(obj.key)).hexdigest()
            for obj in storage.list() if not obj.key.startswith(ACCESS_PREFIX)}  # fmt: skip


def state(index: Index) -> tuple[dict[str, str], list[FileRecord], list[Any], int]:
    catalog = index.catalog
    files = sorted(catalog.all_files(), key=lambda record: record.filename)
    return objects(index.services.storage), files, catalog.projects(), catalog.serial()


def advertised(index: Index, project: str) -> dict[str, str]:
    """filename -> sha256 as the JSON simple page advertises them."""
    response = index.client.get(f"/simple/{project}/", headers=JSON)
    if response.status_code == 404:
        return {}
    return {item["filename"]: item["hashes"]["sha256"] for item in response.json()["files"]}


def assert_downloads_match(index: Index, project: str) -> None:
    for filename, sha256 in advertised(index, project).items():
        body = index.client.get(f"/files/{project}/{filename}").content
        assert hashlib.sha256(body).hexdigest() == sha256, filename


def two_wheels(dist_dir: Path, name: str = "demo", version: str = "1.0") -> tuple[Path, Path]:
    first = make_wheel(dist_dir / "x", name, version)
    second = make_wheel(dist_dir / "y", name, version, modules={f"{name}/y.py": "Y = 1\n"})
    return first, second


# -- finding 1 -----------------------------------------------------------------------------


def test_finding_1_refused_upload_leaves_storage_unchanged(index: Index, dist_dir: Path) -> None:
    x, y = two_wheels(dist_dir)
    storage = index.services.storage
    assert index.upload(x).status_code == 200
    storage.delete(file_key("demo", x.name))  # behind the server's back; the sidecar stays
    report = rebuild_catalog(storage, index.catalog)
    assert report.removed == 1 and "its bytes are missing" in report.skipped[0]
    before = state(index)

    refused = index.upload(y)

    assert refused.status_code == 409, refused.text
    assert "different content" in refused.text
    assert state(index) == before
    # The identical file restores its bytes and is listed again, with the right hash.
    again = index.upload(x)
    assert again.status_code == 200 and "already present" in again.text
    assert storage.read_bytes(file_key("demo", x.name)) == x.read_bytes()
    assert advertised(index, "demo") == {x.name: hashlib.sha256(x.read_bytes()).hexdigest()}
    assert_downloads_match(index, "demo")
    assert verify(storage, index.catalog, deep=True).problems == []


def test_identical_reupload_restores_metadata_and_sidecar(index: Index, dist_dir: Path) -> None:
    wheel = make_wheel(dist_dir, "demo", "1.0")
    storage = index.services.storage
    assert index.upload(wheel).status_code == 200
    before = objects(storage)
    storage.delete(metadata_key("demo", wheel.name))
    storage.delete(sidecar_key("demo", wheel.name))  # the row stays: it still decides
    assert index.upload(make_wheel(dist_dir / "other", "demo", "1.0",
                                   modules={"demo/z.py": ""})).status_code == 409  # fmt: skip
    assert index.upload(wheel).status_code == 200
    assert objects(storage) == before


# -- finding 2 -----------------------------------------------------------------------------


@contextmanager
def index_on(data_dir: Path, catalog: str | None) -> Iterator[Index]:
    settings: dict[str, Any] = {"data_dir": data_dir}
    if catalog:
        settings["catalog"] = catalog
    app = create_app(load_server_settings(settings, environ={}))
    with TestClient(app) as client:
        index = Index(client, app.state.services, data_dir)
        index.add_user("alice")
        yield index


def _metadata(name: str, version: str, extra: str = "") -> str:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{extra}"


FINDING_2_CASES = {
    "long-name": (("a_b", "1.0"), _metadata("a" + "-" * 401 + "b", "1.0"),
                  "is not a valid name: 1 to 255"),
    "long-version": (("a", "1"), _metadata("a", "1" + ".0" * 200), "the filename says version 1"),
    "nul-requires-python": (("a", "1.0"), _metadata("a", "1.0", "Requires-Python: >=3.8\0\n"),
                            "Requires-Python"),
}


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_finding_2_values_the_catalog_cannot_hold_are_refused_before_storing(
    engine: str, data_dir: Path, dist_dir: Path
) -> None:
    with contextlib_nullable(engine) as catalog_url, index_on(data_dir, catalog_url) as index:
        for case, ((name, version), metadata, message) in FINDING_2_CASES.items():
            wheel = make_wheel(dist_dir / case, name, version, metadata=metadata)
            response = index.upload(wheel, name=None, version=None)
            assert response.status_code == 400, (case, response.text)
            assert message in response.text, (case, response.text)
        assert files_in(index.services.storage) == []
        assert index.catalog.all_files() == [] and index.catalog.projects() == []


@contextmanager
def contextlib_nullable(engine: str) -> Iterator[str | None]:
    if engine == "sqlite":
        yield None
    else:
        with postgres_database() as url:
            yield url


def test_finding_2_rebuild_skips_what_it_cannot_adopt_and_finishes_the_rest(
    data_dir: Path, dist_dir: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    with postgres_database() as catalog_url, index_on(data_dir, catalog_url) as index:
        good = make_wheel(dist_dir, "good", "1.0")
        assert index.upload(good).status_code == 200
        storage = index.services.storage
        # What an older pubkit stored on SQLite: a sidecar PostgreSQL cannot hold.
        bad = make_wheel(dist_dir, "a_b", "1.0")
        storage.put_new(file_key("a-b", bad.name), bad)
        record = FileRecord.from_sidecar(storage.read_bytes(sidecar_key("good", good.name)))
        from dataclasses import replace

        odd = replace(record, project="a-b", display_name="a" + "-" * 401 + "b",
                      filename=bad.name, size=bad.stat().st_size)  # fmt: skip
        storage.put_bytes(sidecar_key("a-b", bad.name), odd.to_sidecar())
        storage.put_bytes(sidecar_key("good", "good-2.0-py3-none-any.whl"), b"{not json")
        index.catalog.replace_files([])
        argv = ["index", "rebuild", "--data-dir", str(data_dir), "--catalog", catalog_url]
        with pytest.raises(SystemExit) as exited:
            main(argv)
        out, err = capsys.readouterr()
        assert exited.value.code == 1
        assert "Traceback" not in out + err
        assert "a-b/a_b-1.0-py3-none-any.whl: " in err and "good-2.0" in err
        assert err.strip().splitlines()[-1].startswith("error: 2 objects could not be adopted")
        assert [r.filename for r in index.catalog.all_files()] == [good.name]


# -- finding 3 -----------------------------------------------------------------------------


class _ListThenUpload:
    """A storage whose listing, once read, lets an upload commit (as one does while a long
    rebuild runs)."""

    def __init__(self, storage: Storage, upload: Any) -> None:
        self._storage = storage
        self._upload = upload

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)

    def list(self, prefix: str = "") -> Iterator[Any]:
        listed = list(self._storage.list(prefix))
        if self._upload is not None:
            upload, self._upload = self._upload, None
            upload()
        return iter(listed)


def test_finding_3_rebuild_never_removes_a_row_committed_after_it_began(
    index: Index, dist_dir: Path
) -> None:
    early = make_wheel(dist_dir, "demo", "1.0")
    late = make_wheel(dist_dir, "demo", "2.0")
    other = make_wheel(dist_dir, "other", "1.0")
    assert index.upload(early).status_code == 200

    def upload_during_rebuild() -> None:
        assert index.upload(late).status_code == 200
        assert index.upload(other).status_code == 200

    wrapped = _ListThenUpload(index.services.storage, upload_during_rebuild)
    rebuild_catalog(wrapped, index.catalog)  # type: ignore[arg-type]
    listed = {record.filename for record in index.catalog.all_files()}
    assert listed == {early.name, late.name, other.name}
    assert_downloads_match(index, "demo")


def test_rebuild_rechecks_storage_before_removing_a_row(index: Index, dist_dir: Path) -> None:
    wheel = make_wheel(dist_dir, "demo", "1.0")
    assert index.upload(wheel).status_code == 200
    storage = index.services.storage

    class HidesTheSidecar(_ListThenUpload):
        def list(self, prefix: str = "") -> Iterator[Any]:
            return (o for o in storage.list(prefix) if not o.key.endswith(".json"))

    report = rebuild_catalog(HidesTheSidecar(storage, None), index.catalog)  # type: ignore[arg-type]
    assert report.removed == 0
    assert [r.filename for r in index.catalog.all_files()] == [wheel.name]


# -- finding 9 -----------------------------------------------------------------------------


def test_finding_9_an_orphan_never_blocks_a_different_upload(index: Index, dist_dir: Path) -> None:
    first, second = two_wheels(dist_dir)
    storage = index.services.storage
    # kill -9 between the bytes and the sidecar: bytes (and metadata) without a sidecar.
    storage.put_new(file_key("demo", first.name), first)
    storage.put_bytes(metadata_key("demo", first.name), b"Metadata-Version: 2.1\n")
    response = index.upload(second)
    assert response.status_code == 200, response.text
    assert "uploaded" in response.text
    assert storage.read_bytes(file_key("demo", second.name)) == second.read_bytes()
    assert [o.key for o in storage.list(".staged/")] == []
    assert_downloads_match(index, "demo")
    metadata = index.client.get(f"/files/demo/{second.name}.metadata").content
    assert b"Name: demo" in metadata
    assert verify(storage, index.catalog, deep=True).problems == []
    assert index.upload(first).status_code == 409


def test_a_crash_after_the_commit_is_finished_by_rebuild(
    index: Index, dist_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = two_wheels(dist_dir)
    storage = index.services.storage
    storage.put_new(file_key("demo", first.name), first)  # an orphan: the upload must stage

    class Crash(Exception):
        pass

    def crash(*_args: object) -> None:
        raise Crash("killed")

    monkeypatch.setattr(storage, "replace", crash)
    with pytest.raises(Crash):
        index.upload(second)
    monkeypatch.undo()
    # The sidecar is written, the bytes are still staged: nothing is listed yet.
    assert storage.size(sidecar_key("demo", second.name)) is not None
    assert len(list(storage.list(".staged/"))) == 1
    assert index.catalog.all_files() == []
    problems = verify(storage, index.catalog).problems
    assert [p.kind for p in problems] == ["pending-commit"]
    report = rebuild_catalog(storage, index.catalog)
    assert report.finished == [file_key("demo", second.name)] and report.added == 1
    assert list(storage.list(".staged/")) == []
    assert_downloads_match(index, "demo")
    assert verify(storage, index.catalog, deep=True).problems == []


# -- finding 10, first half ----------------------------------------------------------------


def test_finding_10_concurrent_identical_uploads_answer_uploaded_once(
    index: Index, dist_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = make_wheel(dist_dir, "demo", "1.0")
    barrier = threading.Barrier(8, timeout=30)
    real = commit_module.commit

    def together(*args: Any) -> Any:
        barrier.wait()  # every upload has passed its checks: all race for the commit
        return real(*args)

    monkeypatch.setattr("pubkit.server.upload.commit", together)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _n: index.upload(wheel), range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    texts = sorted(a.text for a in answers)
    assert sum("uploaded" in text for text in texts) == 1, texts
    assert sum("already present" in text for text in texts) == 7, texts
    uploads = [e for e in index.admin().audit() if e.action == "upload"]
    assert len(uploads) == 1
    storage = index.services.storage
    assert sorted(objects(storage)) == sorted(
        key("demo", wheel.name) for key in (file_key, metadata_key, sidecar_key))
    assert verify(storage, index.catalog, deep=True).problems == []


# -- finding 11 ----------------------------------------------------------------------------


def _sdist(dist_dir: Path, members: dict[str, bytes | tuple[bytes, str]],
           name: str = "demo-1.0.tar.gz") -> Path:  # fmt: skip
    """An sdist whose members are bytes, or (target, "symlink"|"hardlink")."""
    path = dist_dir / name
    with tarfile.open(path, "w:gz") as archive:
        for member, content in members.items():
            info = tarfile.TarInfo(member)
            if isinstance(content, tuple):
                info.type = tarfile.SYMTYPE if content[1] == "symlink" else tarfile.LNKTYPE
                info.linkname = content[0].decode()
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return path


PKG_INFO = core_metadata("demo", "1.0").encode()


@pytest.mark.parametrize(("members", "message"), [
    ({"demo-1.0/PKG-INFO": PKG_INFO, "demo-1.0/../../etc/x": b"x"}, "absolute or parent path"),
    ({"demo-1.0/PKG-INFO": PKG_INFO, "/etc/x": b"x"}, "absolute or parent path"),
    ({"demo-1.0/PKG-INFO": PKG_INFO, "demo-1.0/link": (b"/etc/passwd", "symlink")},
     "is a link or a special file"),
    ({"demo-1.0/PKG-INFO": PKG_INFO, "demo-1.0/hard": (b"demo-1.0/PKG-INFO", "hardlink")},
     "is a link or a special file"),
    ({"src/PKG-INFO": PKG_INFO}, "outside the demo-1.0/ directory"),
    ({"demo-1.0.0/PKG-INFO": PKG_INFO}, "outside the demo-1.0/ directory"),
    ({"demo-1.0/PKG-INFO": PKG_INFO, "setup.py": b""}, "outside the demo-1.0/ directory"),
])  # fmt: skip
def test_finding_11_sdist_members_follow_pypi_rules(
    index: Index, dist_dir: Path, members: dict[str, Any], message: str
) -> None:
    response = index.upload(_sdist(dist_dir, members))
    assert response.status_code == 400 and message in response.text, response.text
    assert files_in(index.services.storage) == []


def test_finding_11_sdist_top_directory_may_be_spelled_as_pypi_accepts(
    index: Index, dist_dir: Path
) -> None:
    metadata = core_metadata("Foo.Bar", "1.0").encode()
    sdist = _sdist(dist_dir, {"Foo.Bar-1.0/PKG-INFO": metadata, "Foo.Bar-1.0/x.py": b""},
                   name="foo_bar-1.0.tar.gz")  # fmt: skip
    assert index.upload(sdist, name="Foo.Bar").status_code == 200
    assert index.upload(make_sdist(dist_dir, "demo", "1.0")).status_code == 200


def test_finding_11_wheel_dist_info_must_name_the_files_version(
    index: Index, dist_dir: Path
) -> None:
    wheel = make_wheel(dist_dir, "demo", "4.0")
    renamed = dist_dir / "renamed" / wheel.name
    renamed.parent.mkdir()
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(renamed, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            name = info.filename.replace("demo-4.0.dist-info", "demo-4.0.0.dist-info")
            if name.endswith("METADATA"):
                data = data.replace(b"Version: 4.0", b"Version: 4.0.0")
            target.writestr(name, data)
    response = index.upload(renamed, version="4.0.0")
    assert response.status_code == 400, response.text
    assert "exactly one .dist-info directory for demo 4.0" in response.text
    # The same wheel whose METADATA alone says 4.0.0 is refused too.
    metadata = core_metadata("demo", "4.0.0")
    alone = make_wheel(dist_dir / "alone", "demo", "4.0", metadata=metadata)
    response = index.upload(alone, version="4.0.0")
    assert response.status_code == 400 and "the filename says version 4.0" in response.text


def test_finding_11_project_names_are_ascii(index: Index, dist_dir: Path) -> None:
    kelvin = "\u212aelvin"
    wheel = make_wheel(dist_dir, "kelvin", "1.0", metadata=core_metadata(kelvin, "1.0"))
    response = index.upload(wheel, name=None)
    assert response.status_code == 400, response.text
    assert "is not a valid project name" in response.text
    assert files_in(index.services.storage) == []


def test_finding_11_pep_700_versions_are_normalized(index: Index, dist_dir: Path) -> None:
    wheel = make_wheel(dist_dir, "demo", "1.1", metadata=core_metadata("demo", "v01.1"))
    assert index.upload(wheel, version="v01.1").status_code == 200
    page = index.client.get("/simple/demo/", headers=JSON).json()
    assert page["versions"] == ["1.1"]


# -- verify --------------------------------------------------------------------------------


def test_verify_finds_and_repairs(index: Index, dist_dir: Path,
                                  monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    storage = index.services.storage
    wheels = {n: make_wheel(dist_dir, "demo", f"{n}.0") for n in range(1, 6)}
    for wheel in wheels.values():
        assert index.upload(wheel).status_code == 200
    storage.delete(file_key("demo", wheels[1].name))          # missing bytes, listed
    storage.delete(metadata_key("demo", wheels[2].name))      # missing metadata
    storage.delete(sidecar_key("demo", wheels[3].name))       # row without sidecar
    index.catalog.delete_files("demo", [wheels[4].name], None)  # unlisted
    storage.put_bytes(file_key("demo", wheels[5].name), b"x" * wheels[5].stat().st_size)
    orphan = make_wheel(dist_dir, "demo", "9.0")
    storage.put_new(file_key("demo", orphan.name), orphan)   # orphan
    storage.put_new(staged_key("0" * 64), orphan)            # orphan staged bytes
    d = ["--data-dir", str(index.data_dir)]

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            main(["index", "verify", *argv, *d])
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = run("--grace", "0")
    assert code == 1
    kinds = sorted(re.findall(r"^([a-z-]+): ", err, re.M))
    assert kinds == ["missing-bytes", "missing-metadata", "orphan", "orphan",
                     "row-without-sidecar", "unlisted"], err
    code, out, err = run("--grace", "0", "--deep", "--json")
    import json

    found = json.loads(out)["problems"]
    assert "hash-mismatch" in {p["kind"] for p in found}
    code, out, err = run("--grace", "0", "--deep", "--repair")
    assert code == 1  # the lost bytes and the corrupt file stay problems, and the orphans
    assert {line.split(":")[0] for line in err.splitlines()} == {
        "missing-bytes", "hash-mismatch", "orphan"}, err
    assert "repaired missing-metadata" in out and "repaired unlisted" in out
    code, out, err = run("--grace", "0", "--deep", "--repair", "--force")
    assert {line.split(":")[0] for line in err.splitlines()} == {
        "missing-bytes", "hash-mismatch"}, err
    listed = advertised(index, "demo")
    assert sorted(listed) == sorted(wheels[n].name for n in (2, 3, 4))
    assert_downloads_match(index, "demo")
    # Re-uploading the identical files restores the rest.
    assert index.upload(wheels[1]).status_code == 200
    assert index.upload(wheels[5]).status_code == 200
    assert run("--grace", "0", "--deep")[0] == 0
    assert_downloads_match(index, "demo")


def test_verify_on_s3_and_postgresql(
    s3_bucket: str, data_dir: Path, dist_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage_url = f"s3://{s3_bucket}/pubkit?addressing=path"
    with postgres_database() as catalog_url:
        settings: dict[str, Any] = {"data_dir": data_dir, "storage": storage_url,
                                    "catalog": catalog_url}  # fmt: skip
        app = create_app(load_server_settings(settings, environ={}))
        with TestClient(app) as client:
            index = Index(client, app.state.services, data_dir)
            index.add_user("alice")
            first, second = (make_wheel(dist_dir, "demo", v) for v in ("1.0", "2.0"))
            assert index.upload(first).status_code == 200
            assert index.upload(second).status_code == 200
            index.services.storage.delete(metadata_key("demo", first.name))
            argv = ["index", "verify", "--storage", storage_url, "--catalog", catalog_url,
                    "--data-dir", str(data_dir)]  # fmt: skip
            with pytest.raises(SystemExit) as exited:
                main(argv)
            assert exited.value.code == 1
            assert "missing-metadata: demo/demo-1.0-py3-none-any.whl" in capsys.readouterr().err
            main([*argv, "--repair", "--deep"])  # exit 0: nothing remains
            assert "repaired missing-metadata" in capsys.readouterr().out
            assert_downloads_match(index, "demo")
            assert index.client.get(f"/files/demo/{first.name}.metadata").status_code == 200
