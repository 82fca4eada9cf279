"""`pubkit migrate` on a data dir: a pypiserver directory and a pypicloud bucket (moto's S3 in
server mode) with the layouts those servers write, edge cases included; re-runs, dry runs, an
interrupted run; and the first sign-in of a migrated bcrypt user."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pubkit.errors import AuthenticationError
from pubkit.server import backup
from pubkit.server.admin import rebuild_catalog
from pubkit.server.auth.authenticator import Authenticator, Credentials
from pubkit.server.auth.passwords import hash_password, legacy_hash
from pubkit.server.catalog import Catalog, open_catalog
from pubkit.server.layout import FileRecord, file_key, metadata_key, sidecar_key
from pubkit.server.storage import LocalStorage
from pubkit.testing import core_metadata, make_sdist, make_wheel
from tests.cli_support import run_cli as run

# Apache htpasswd 2.4 wrote these (-B -C 5 and -m); alice's password is "alice-password-1".
ALICE = "$2y$05$xIUXa5v.Phwns6QPWrEgf.4oVaV2l7Cg2hHPH6El5wrBJM7CcnBWC"
HTPASSWD = f"alice:{ALICE}\nbob:$apr1$Tpnv8ZxY$j1cyAn98xtY05fvII3zSl0\n"




def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def catalog_of(data_dir: Path) -> Catalog:
    return open_catalog(f"sqlite:///{data_dir / 'catalog.sqlite3'}")


def pypiserver_dir(root: Path) -> dict[str, Path]:
    """A package directory as teams fill pypiserver's: flat files, per-project directories,
    deeper filing, and what else lands there."""
    made = {
        "alpha-1.0.tar.gz": make_sdist(root, "alpha", "1.0", requires=["requests"]),
        "alpha-1.0-py3-none-any.whl": make_wheel(root, "alpha", "1.0"),
        "beta/beta-2.0-py3-none-any.whl": make_wheel(root / "beta", "beta", "2.0"),
        "beta/beta-2.0.tar.gz": make_sdist(root / "beta", "beta", "2.0"),
        "archive/2023/gamma-0.1.tar.gz": make_sdist(root / "archive" / "2023", "gamma", "0.1"),
        # Filed in another project's directory: pypiserver serves it by its filename.
        "wrongdir/delta-1.0-py3-none-any.whl": make_wheel(root / "wrongdir", "delta", "1.0"),
    }
    # Its filename says liar, its metadata says other: refused, as an upload would be.
    make_sdist(root, "liar", "1.0", metadata=core_metadata("other", "1.0"))
    # Another alpha-1.0.tar.gz with other bytes, in a per-project directory.
    make_sdist(root / "alpha", "alpha", "1.0", requires=["idna"])
    (root / "alpha" / "alpha-0.9.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    (root / "README.md").write_text("our packages\n")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return made


def assert_stored(data_dir: Path, catalog: Catalog, project: str, source: Path) -> FileRecord:
    """The file is in storage byte for byte, with its metadata and sidecar, and listed."""
    storage = LocalStorage(data_dir / "files")
    record = catalog.file(source.name)
    assert record is not None, source.name
    assert record.project == project and record.sha256 == sha256(source)
    stored = storage.local_path(file_key(project, source.name))
    assert stored is not None and stored.read_bytes() == source.read_bytes()
    assert storage.size(metadata_key(project, source.name))
    assert FileRecord.from_sidecar(storage.read_bytes(sidecar_key(project, source.name))) == record
    return record


def test_pypiserver_directory_with_users_rerun_and_dry_run(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    root = tmp_path / "packages"
    made = pypiserver_dir(root)
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(HTPASSWD)
    args = ("migrate", "from-pypiserver", str(root), "--htpasswd", str(htpasswd),
            "--owner", "alice", "--data-dir", str(data_dir))  # fmt: skip

    code, out, err = run(monkeypatch, capsys, *args, "--dry-run")
    assert code == 1, err
    assert out.count("would import ") == 6 and "user would be added: alice" in out
    assert not (data_dir / "files").exists() or not any((data_dir / "files").rglob("*"))
    catalog = catalog_of(data_dir)
    assert catalog.users() == [] and catalog.all_files() == []
    catalog.close()

    code, out, err = run(monkeypatch, capsys, *args)
    assert code == 1
    catalog = catalog_of(data_dir)
    for location, source in made.items():
        assert f"imported {location} as " in out
        assert_stored(data_dir, catalog, source.name.split("-")[0], source)
    assert "skipped README.md: not a distribution" in out
    assert "skipped .git/: a hidden directory" in out
    assert "skipped alpha/alpha-0.9.zip: pubkit serves only wheels" in out
    assert ("note: wrongdir/delta-1.0-py3-none-any.whl: listed under 'wrongdir', but it is"
            " 'delta'") in err  # fmt: skip
    assert "refused: liar-1.0.tar.gz: the filename says project 'liar' but the metadata" in err
    assert "conflict: alpha/alpha-1.0.tar.gz: pubkit has alpha-1.0.tar.gz with other bytes" in err
    assert "refused: line 2: user 'bob' not migrated: apr1" in err
    assert err.strip().splitlines()[-1] == (
        "error: 2 files and 1 users were not migrated (listed above); fix them and run the"
        " migration again (what pubkit has stays as it is)"
    )
    # The conflicting copy did not replace the first one.
    assert_stored(data_dir, catalog, "alpha", made["alpha-1.0.tar.gz"])
    assert catalog.file("liar-1.0.tar.gz") is None and catalog.project("other") is None
    alice = catalog.user("alice")
    assert alice is not None and alice.password_hash == legacy_hash(ALICE)
    assert catalog.user("bob") is None
    for project in ("alpha", "beta", "gamma", "delta"):
        assert catalog.project_roles(project) == [("alice", "owner")]
    uploads = [entry for entry in catalog.audit_entries() if entry.action == "upload"]
    assert sorted(entry.target for entry in uploads) == sorted(p.name for p in made.values())
    assert {entry.detail["migrated_from"] for entry in uploads} == {
        f"{root}:{location}" for location in made}
    serial = catalog.serial()
    storage_before = sorted((p.relative_to(data_dir), p.stat().st_mtime_ns)
                            for p in (data_dir / "files").rglob("*"))  # fmt: skip
    catalog.close()

    # Again: nothing changes, and it says so; the failures are still reported.
    code, out, err = run(monkeypatch, capsys, *args)
    assert code == 1
    assert "imported" not in out.replace("files imported", "")
    assert "0 files imported, 6 already in pubkit" in out
    assert "nothing changed: pubkit already had every file and user it could take" in out
    catalog = catalog_of(data_dir)
    assert catalog.serial() == serial
    assert sorted((p.relative_to(data_dir), p.stat().st_mtime_ns)
                  for p in (data_dir / "files").rglob("*")) == storage_before  # fmt: skip
    catalog.close()
    assert not list((data_dir / "tmp").glob("migrate-*"))


def test_owner_must_exist_and_nothing_changes_before(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    root = tmp_path / "packages"
    make_wheel(root, "alpha", "1.0")
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(HTPASSWD)
    code, out, err = run(monkeypatch, capsys, "migrate", "from-pypiserver", str(root),
                         "--htpasswd", str(htpasswd), "--owner", "carol",
                         "--data-dir", str(data_dir))  # fmt: skip
    assert code == 2 and out == ""
    assert err == (
        "error: the owner 'carol' is not a pubkit user nor in the htpasswd file; create it with"
        " `pubkit user add carol` or pass --owner with an existing user\n"
    )
    catalog = catalog_of(data_dir)
    assert catalog.users() == [] and catalog.all_files() == []
    catalog.close()
    code, _, err = run(monkeypatch, capsys, "migrate", "from-pypiserver", str(tmp_path / "nope"),
                       "--owner", "carol", "--data-dir", str(data_dir))  # fmt: skip
    assert code == 2 and err == (
        f"error: {tmp_path / 'nope'} is not a directory; pass pypiserver's package directory\n"
    )


def test_a_file_pubkit_has_with_other_bytes_is_never_overwritten(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from pubkit.server import admin

    catalog = catalog_of(data_dir)
    admin.add_user(catalog, "root", "root-password", is_admin=True)
    catalog.close()
    first = make_wheel(tmp_path / "first", "alpha", "1.0")
    code, _, err = run(monkeypatch, capsys, "migrate", "from-pypiserver", str(first.parent),
                       "--owner", "root", "--data-dir", str(data_dir))  # fmt: skip
    assert code == 0, err
    other = make_wheel(tmp_path / "other", "alpha", "1.0", modules={"alpha/x.py": "X = 1\n"})
    code, _, err = run(monkeypatch, capsys, "migrate", "from-pypiserver", str(other.parent),
                       "--owner", "root", "--data-dir", str(data_dir))  # fmt: skip
    assert code == 1
    assert "conflict: alpha-1.0-py3-none-any.whl: pubkit has alpha-1.0-py3-none-any.whl with" in err
    catalog = catalog_of(data_dir)
    assert_stored(data_dir, catalog, "alpha", first)
    catalog.close()


def test_interrupted_run_is_finished_by_the_next(tmp_path: Path, data_dir: Path) -> None:
    """SIGKILL right after the first file is in; a second run completes, nothing twice."""
    root = tmp_path / "packages"
    sources = [make_wheel(root / f"p{n}", f"p{n}", "1.0", extra_files={
        f"p{n}/blob.bin": os.urandom(1024 * 1024)}) for n in range(8)]  # fmt: skip
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(HTPASSWD)
    command = [sys.executable, "-m", "pubkit", "migrate", "from-pypiserver", str(root),
               "--htpasswd", str(htpasswd), "--owner", "alice",
               "--data-dir", str(data_dir)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBKIT_")}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=env, text=True)  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("imported "):
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    catalog = catalog_of(data_dir)
    done = len(catalog.all_files())
    assert 1 <= done < len(sources)
    catalog.close()

    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1, result.stderr  # bob's apr1 line, as before
    assert f"{len(sources) - done} files imported, {done} already in pubkit" in result.stdout
    catalog = catalog_of(data_dir)
    for source in sources:
        assert_stored(data_dir, catalog, source.name.split("-")[0], source)
    assert len(catalog.all_files()) == len(sources)
    # Storage and catalog agree: nothing half-stored is left for a rebuild to find.
    report = rebuild_catalog(LocalStorage(data_dir / "files"), catalog)
    assert (report.files, report.added, report.updated, report.removed) == (8, 0, 0, 0)
    assert report.incomplete == []
    catalog.close()


def test_pypicloud_bucket(
    tmp_path: Path, data_dir: Path, s3_bucket: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import boto3

    s3 = boto3.client("s3")
    dists = tmp_path / "dists"
    alpha = make_sdist(dists, "alpha", "1.0")
    alpha_wheel = make_wheel(dists, "alpha", "1.0")
    beta = make_wheel(dists, "beta", "2.0")
    delta = make_sdist(dists, "delta", "1.0")
    eps = make_sdist(dists, "eps", "1.0")

    def put(key: str, path: Path | None, **metadata: str) -> None:
        body = path.read_bytes() if path else b"notes"
        s3.put_object(Bucket=s3_bucket, Key=key, Body=body, Metadata=metadata)

    def hashed(name: str, path: Path) -> str:
        # pypicloud's storage.prepend_hash (its default): md5 of the filename, 4 hex digits.
        digest = hashlib.md5(path.name.encode(), usedforsecurity=False).hexdigest()
        return f"packages/{digest[:4]}/{name}/{path.name}"

    md5 = hashlib.md5(alpha.read_bytes(), usedforsecurity=False).hexdigest()
    put(hashed("alpha", alpha), alpha, name="alpha", version="1.0", summary="A test package",
        hash_sha256=sha256(alpha), hash_md5=md5)
    put(hashed("alpha", alpha_wheel), alpha_wheel, name="alpha", version="1.0")
    put(f"packages/beta/{beta.name}", beta)  # prepend_hash off, and no metadata (pypicloud <0.2)
    put(hashed("gamma", delta), delta, name="gamma", version="1.0")  # listed under another name
    put(hashed("eps", eps), eps, name="eps", version="1.0", hash_sha256="0" * 64)  # corrupted
    put("packages/notes.txt", None)
    put("elsewhere/zeta-1.0.tar.gz", alpha)  # outside the prefix
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(HTPASSWD)
    args = ("migrate", "from-pypicloud", f"s3://{s3_bucket}/packages/?addressing=path",
            "--owner", "alice", "--htpasswd", str(htpasswd),
            "--data-dir", str(data_dir))  # fmt: skip

    code, out, err = run(monkeypatch, capsys, *args)
    assert code == 1
    assert "4 files imported, 0 already in pubkit, 1 skipped, 1 refused, 0 conflicts" in out
    assert "skipped notes.txt: not a distribution" in out
    assert f"note: {hashed('gamma', delta)[9:]}: listed under 'gamma'" in err
    assert f"refused: {hashed('eps', eps)[9:]}: its bytes do not match the sha256" in err
    catalog = catalog_of(data_dir)
    for project, source in (("alpha", alpha), ("alpha", alpha_wheel), ("beta", beta),
                            ("delta", delta)):  # fmt: skip
        assert_stored(data_dir, catalog, project, source)
    assert catalog.project("eps") is None and catalog.project("zeta") is None
    serial = catalog.serial()
    catalog.close()

    code, out, _ = run(monkeypatch, capsys, *args)
    assert code == 1
    assert "0 files imported, 4 already in pubkit" in out and "nothing changed" in out
    catalog = catalog_of(data_dir)
    assert catalog.serial() == serial
    catalog.close()

    code, _, err = run(monkeypatch, capsys, "migrate", "from-pypicloud", "/srv/pypicloud",
                       "--owner", "alice", "--data-dir", str(data_dir))  # fmt: skip
    assert (code, err) == (2, "error: '/srv/pypicloud' is not an s3:// URL; pass"
                              " s3://BUCKET/PREFIX\n")  # fmt: skip


@pytest.mark.parametrize(
    ("old", "password"),
    [(ALICE, "alice-password-1"),
     ("$5$BKvgrQSh7B8bVUH0$bkxZteFqkKADdi9AmkyWzhmaZ62CfPXJ3dWeXfUr7.0", "henry-password-1")],
    ids=["bcrypt", "sha-crypt"],
)  # fmt: skip
def test_first_sign_in_replaces_the_old_hash(tmp_path: Path, old: str, password: str) -> None:
    catalog = open_catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    catalog.add_user("alice", legacy_hash(old))
    authenticator = Authenticator(catalog, 60)
    with pytest.raises(AuthenticationError):
        authenticator.authenticate(Credentials("alice", "wrong-password"))
    user = catalog.user("alice")
    assert user is not None and user.password_hash == legacy_hash(old)
    principal = authenticator.authenticate(Credentials("alice", password))
    user = catalog.user("alice")
    assert user is not None and user.password_hash.startswith("scrypt$")
    assert principal.user == user
    newest = catalog.audit_entries()[0]
    assert (newest.action, newest.target) == ("upgrade password hash", "user alice")
    # The new hash verifies the same password, in a fresh authenticator (no cache).
    assert Authenticator(catalog, 60).authenticate(Credentials("alice", password))
    # An upgrade never replaces a hash changed meanwhile.
    changed = hash_password("another-password")
    catalog.set_password("alice", changed)
    assert not catalog.upgrade_password("alice", legacy_hash(old), hash_password("x"))
    user = catalog.user("alice")
    assert user is not None and user.password_hash == changed
    catalog.close()


def test_export_and_import_keep_a_migrated_hash(tmp_path: Path) -> None:
    source = open_catalog(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    source.add_user("alice", legacy_hash(ALICE))
    document = backup.export_access(source)
    target = open_catalog(f"sqlite:///{tmp_path / 'b.sqlite3'}")
    backup.import_access(target, document)
    user = target.user("alice")
    assert user is not None and user.password_hash == legacy_hash(ALICE)
    source.close()
    target.close()


def test_disk_full_stops_with_one_line_and_the_next_run_finishes(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import errno

    root = tmp_path / "packages"
    sources = [make_wheel(root, name, "1.0") for name in ("p1", "p2", "p3")]
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"alice:{ALICE}\n")
    args = ("migrate", "from-pypiserver", str(root), "--htpasswd", str(htpasswd),
            "--owner", "alice", "--data-dir", str(data_dir))  # fmt: skip
    put_new = LocalStorage.put_new
    calls = {"n": 0}

    def full_disk(self: LocalStorage, key: str, source: Path) -> bool:
        if key.startswith("."):  # pubkit's own objects (access snapshots) are not counted
            return put_new(self, key, source)
        calls["n"] += 1
        if calls["n"] == 3:  # the second file's bytes (each file: bytes, then its sidecar)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return put_new(self, key, source)

    def failing(self: LocalStorage, key: str, source: Path) -> bool:
        try:
            return full_disk(self, key, source)
        except OSError as error:
            raise self._error("store", key, error) from error

    monkeypatch.setattr(LocalStorage, "put_new", failing)
    code, out, err = run(monkeypatch, capsys, *args)
    assert code == 1
    assert err.splitlines()[-1].startswith("error: could not store p2/p2-1.0-py3-none-any.whl in")
    assert err.splitlines()[-1].endswith("No space left on device; free some disk space")
    catalog = catalog_of(data_dir)
    assert [record.filename for record in catalog.all_files()] == [sources[0].name]
    assert not list((data_dir / "files").glob("p2/*"))
    catalog.close()
    assert not list((data_dir / "tmp").glob("*"))

    monkeypatch.setattr(LocalStorage, "put_new", put_new)
    code, out, err = run(monkeypatch, capsys, *args)
    assert code == 0, err
    assert "2 files imported, 1 already in pubkit" in out
    catalog = catalog_of(data_dir)
    for source in sources:
        assert_stored(data_dir, catalog, source.name.split("-")[0], source)
    catalog.close()


def test_missing_bucket_is_one_line(
    data_dir: Path, moto_s3: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from pubkit.server import admin

    catalog = catalog_of(data_dir)
    admin.add_user(catalog, "alice", "alice-password")
    catalog.close()
    code, out, err = run(monkeypatch, capsys, "migrate", "from-pypicloud",
                         "s3://no-such-pypicloud-bucket/packages?addressing=path",
                         "--owner", "alice", "--data-dir", str(data_dir))  # fmt: skip
    assert code == 1 and out == ""
    assert err == (
        "error: could not list the objects in s3://no-such-pypicloud-bucket/packages/: the bucket"
        " no-such-pypicloud-bucket does not exist; create it or fix the storage URL\n"
    )


def test_into_s3_storage_and_a_postgresql_catalog(
    tmp_path: Path, data_dir: Path, s3_bucket: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import boto3

    from tests.conftest import postgres_database

    root = tmp_path / "packages"
    sources = [make_wheel(root / "alpha", "alpha", "1.0"), make_sdist(root, "beta", "2.0")]
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"alice:{ALICE}\n")
    with postgres_database("pubkit_migrate") as catalog_url:
        args = ("migrate", "from-pypiserver", str(root), "--htpasswd", str(htpasswd),
                "--owner", "alice", "--data-dir", str(data_dir),
                "--storage", f"s3://{s3_bucket}/pubkit?addressing=path",
                "--catalog", catalog_url)  # fmt: skip
        code, out, err = run(monkeypatch, capsys, *args)
        assert code == 0, err
        catalog = open_catalog(catalog_url)
        try:
            s3 = boto3.client("s3")
            for project, source in zip(("alpha", "beta"), sources, strict=True):
                record = catalog.file(source.name)
                assert record is not None and record.sha256 == sha256(source)
                body = s3.get_object(Bucket=s3_bucket, Key=f"pubkit/{project}/{source.name}")
                assert body["Body"].read() == source.read_bytes()
            serial = catalog.serial()
            code, out, _ = run(monkeypatch, capsys, *args)
            assert code == 0 and "0 files imported, 2 already in pubkit" in out
            assert catalog.serial() == serial
        finally:
            catalog.close()


def test_a_stalled_s3_stops_the_run_in_bounded_time_and_the_next_run_finishes(
    tmp_path: Path, data_dir: Path, s3_bucket: str, moto_s3: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """pypicloud's bucket stops answering (a proxy that stalls) mid-download: one line, within
    the timeouts of the URL's options, nothing half-stored; the next run finishes the job."""
    import time

    import boto3

    from tests.faults.http_proxy import Fault, faulty_proxy

    s3 = boto3.client("s3")
    sources = [make_wheel(tmp_path / "dists", name, "1.0") for name in ("p1", "p2", "p3")]
    for source in sources:
        name = source.name.split("-")[0]
        s3.put_object(Bucket=s3_bucket, Key=f"packages/{name}/{source.name}",
                      Body=source.read_bytes(), Metadata={"name": name})  # fmt: skip
    downloads = {"count": 0, "stall": True}

    def rule(method: str, path: str) -> Fault | None:
        if method == "GET" and "/packages/" in path and "list-type" not in path:
            downloads["count"] += 1
            if downloads["stall"] and downloads["count"] >= 2:
                return Fault(stall=3.0, status=503)
        return None

    catalog = catalog_of(data_dir)
    from pubkit.server import admin

    admin.add_user(catalog, "alice", "alice-password")
    catalog.close()
    url = (f"s3://{s3_bucket}/packages?addressing=path&max_attempts=2&connect_timeout=1"
           "&read_timeout=1")  # fmt: skip
    args = ("migrate", "from-pypicloud", url, "--owner", "alice", "--data-dir", str(data_dir))
    with faulty_proxy(moto_s3, rule) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy)
        started = time.monotonic()
        code, out, err = run(monkeypatch, capsys, *args)
        elapsed = time.monotonic() - started
        assert code == 1 and elapsed < 30, (elapsed, err)
        assert err.startswith("error: could not read p2/p2-1.0-py3-none-any.whl in s3://")
        assert len(err.splitlines()) == 1, err
        catalog = catalog_of(data_dir)
        assert [record.filename for record in catalog.all_files()] == [sources[0].name]
        catalog.close()
        assert not list((data_dir / "tmp").glob("*"))
        assert not list((data_dir / "files").glob("p2*"))

        downloads["stall"] = False
        code, out, err = run(monkeypatch, capsys, *args)
    assert code == 0, err
    assert "2 files imported, 1 already in pubkit" in out
    catalog = catalog_of(data_dir)
    for source in sources:
        assert_stored(data_dir, catalog, source.name.split("-")[0], source)
    catalog.close()
