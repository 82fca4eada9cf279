"""The admin commands, run through the CLI entry point on a data dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from pubkit.server import admin
from pubkit.server.access_state import AccessSnapshots
from pubkit.server.catalog import open_catalog
from pubkit.server.layout import file_key, sidecar_key
from pubkit.server.storage import LocalStorage
from pubkit.testing import make_wheel
from tests.cli_support import run_cli as run


def test_user_lifecycle(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    d = ("--data-dir", str(data_dir))
    assert run(monkeypatch, capsys, "user", "add", "alice", "--password-stdin", *d,
               stdin="first-password\n")[:2] == (0, "added user alice\n")
    code, _, err = run(monkeypatch, capsys, "user", "add", "alice", "--password-stdin", *d,
                       stdin="first-password\n")
    assert code == 1 and "user 'alice' already exists" in err
    assert run(monkeypatch, capsys, "user", "add", "root", "--admin", "--password-stdin", *d,
               stdin="root-password\n")[0] == 0
    code, out, _ = run(monkeypatch, capsys, "user", "list", *d)
    assert [line.split("\t")[:2] for line in out.splitlines()] == [
        ["alice", "user"], ["root", "admin"]]
    assert run(monkeypatch, capsys, "user", "passwd", "alice", "--password-stdin", *d,
               stdin="second-password\n")[0] == 0
    catalog = open_catalog(f"sqlite:///{data_dir / 'catalog.sqlite3'}")
    from pubkit.server.auth.passwords import verify_password

    alice = catalog.user("alice")
    assert alice is not None and verify_password("second-password", alice.password_hash)
    assert "second-password" not in (data_dir / "catalog.sqlite3").read_bytes().decode("latin-1")
    assert run(monkeypatch, capsys, "user", "remove", "alice", *d)[0] == 0
    code, _, err = run(monkeypatch, capsys, "user", "remove", "alice", *d)
    assert code == 1 and "no user 'alice'" in err

    assert run(monkeypatch, capsys, "user", "add", "bob", "--password-stdin", *d,
               stdin="bob-password\n")[0] == 0
    assert run(monkeypatch, capsys, "user", "admin", "bob", *d)[:2] == (
        0, "bob is an administrator\n")
    assert run(monkeypatch, capsys, "user", "admin", "bob", "--revoke", *d)[:2] == (
        0, "bob is no longer an administrator\n")
    code, _, err = run(monkeypatch, capsys, "user", "admin", "root", "--revoke", *d)
    assert code == 2 and "root is the last administrator" in err
    assert run(monkeypatch, capsys, "user", "disable", "bob", *d)[:2] == (0, "disabled user bob\n")
    code, out, _ = run(monkeypatch, capsys, "user", "list", *d)
    assert [line.split("\t")[:2] for line in out.splitlines()] == [
        ["bob", "user,disabled"], ["root", "admin"]]
    assert run(monkeypatch, capsys, "user", "disable", "bob", "--enable", *d)[:2] == (
        0, "enabled user bob\n")


@pytest.mark.parametrize(
    ("argv", "stdin", "code", "message"),
    [
        (["user", "add", "bob", "--password-stdin"], "short\n", 2, "password is too short"),
        (["user", "add", "bob", "--password-stdin"], "", 2, "no password on standard input"),
        (["user", "add", "bob"], "", 2, "no terminal to ask for a password"),
        (["user", "add", "a:b", "--password-stdin"], "long-enough\n", 2, "invalid user name"),
        (["user", "add", "__token__", "--password-stdin"], "long-enough\n", 2, "reserved"),
        (["user", "passwd", "ghost", "--password-stdin"], "long-enough\n", 1, "no user 'ghost'"),
        (["yank", "nothing", "1.0"], "", 1, "nothing has no release 1.0"),
        (["user", "list", "--catalog", "oracle://x"], "", 2, "is not understood"),
    ],
)
def test_errors_are_one_line_with_exit_code(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    argv: list[str], stdin: str, code: int, message: str,
) -> None:
    got, _, err = run(monkeypatch, capsys, *argv, "--data-dir", str(data_dir), stdin=stdin)
    assert got == code
    assert message in err
    assert err.startswith("error: ") and err.count("\n") == 1


def _publish(data_dir: Path, dist: Path, version: str) -> None:
    """Store a wheel the way an upload does, without a server."""
    from pubkit.server.auth.tokens import Principal
    from pubkit.server.upload import UploadForm, UploadService

    wheel = make_wheel(dist, "demo", version)
    import hashlib

    data = wheel.read_bytes()
    catalog = open_catalog(f"sqlite:///{data_dir / 'catalog.sqlite3'}")
    # As the server does: access changes are stored in storage too.
    catalog.access_state = AccessSnapshots(LocalStorage(data_dir / "files"))
    if catalog.user("alice") is None:
        admin.add_user(catalog, "alice", "first-password")
    user = catalog.user("alice")
    assert user is not None
    form = UploadForm(
        fields={":action": "file_upload", "sha256_digest": hashlib.sha256(data).hexdigest()},
        filename=wheel.name, path=wheel, size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        blake2_256=hashlib.blake2b(data, digest_size=32).hexdigest(),
    )
    uploads = UploadService(LocalStorage(data_dir / "files"), catalog, data_dir / "tmp")
    uploads.process(form, Principal(user))


def test_yank_unyank_and_rebuild(data_dir: Path, dist_dir: Path,
                                 monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    d = ("--data-dir", str(data_dir))
    _publish(data_dir, dist_dir, "1.0")
    _publish(data_dir, dist_dir, "2.0")
    code, out, _ = run(monkeypatch, capsys, "yank", "Demo", "1.0", "--reason", "broken", *d)
    assert (code, out) == (0, "yanked Demo 1.0 (1 file(s))\n")
    storage = LocalStorage(data_dir / "files")
    sidecar = storage.read_bytes(sidecar_key("demo", "demo-1.0-py3-none-any.whl"))
    assert b'"yanked": true' in sidecar and b"broken" in sidecar
    (data_dir / "catalog.sqlite3").unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(data_dir / "catalog.sqlite3") + suffix).unlink(missing_ok=True)
    code, out, _ = run(monkeypatch, capsys, "index", "rebuild", *d)
    assert code == 0
    assert out.startswith("access restored from .access/")
    assert "\n2 files in storage: 2 added, 0 updated, 0 removed" in out
    records = {r.filename: r for r in
               open_catalog(f"sqlite:///{data_dir / 'catalog.sqlite3'}").all_files()}
    assert records["demo-1.0-py3-none-any.whl"].yanked_reason == "broken"
    assert not records["demo-2.0-py3-none-any.whl"].yanked
    assert run(monkeypatch, capsys, "unyank", "demo", "1.0", *d)[0] == 0
    # An interrupted upload (bytes, no sidecar) is reported, not listed.
    extra = make_wheel(dist_dir, "demo", "3.0")
    storage.put_new(file_key("demo", extra.name), extra)
    code, out, err = run(monkeypatch, capsys, "index", "rebuild", *d)
    assert code == 0 and "demo/demo-3.0-py3-none-any.whl has no sidecar" in err


def test_version(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from pubkit import __version__

    assert run(monkeypatch, capsys, "--version")[:2] == (0, f"pubkit {__version__}\n")
