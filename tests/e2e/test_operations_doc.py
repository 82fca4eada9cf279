"""docs/operations.md, followed literally: the fenced console commands of its Backup section
run against a populated data dir, those of its Restore section into an empty one, each as
written (in bash, its variables set), in the page's order; then every file, user, group,
role, private flag and token is back, and the passwords and tokens work."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pubkit.cli import main
from pubkit.server import backup
from pubkit.server.auth.authenticator import Authenticator, Credentials
from pubkit.server.catalog import Catalog, open_catalog
from pubkit.testing import make_sdist, make_wheel
from tests.server.test_migrate import ALICE

pytestmark = pytest.mark.e2e
PAGE = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def console_commands(section: str) -> list[str]:
    """The commands in the ``console`` blocks of the page's ``## {section}``, in order."""
    text = PAGE.read_text()
    match = re.search(rf"^## {section}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/operations.md has no section {section!r}"
    blocks = re.findall(r"^```console\n(.*?)^```", match.group(1), re.M | re.S)
    return [line.strip() for block in blocks for line in block.splitlines()
            if line.strip() and not line.strip().startswith("#")]  # fmt: skip


def pubkit_cli(data_dir: Path, *argv: str, stdin: str = "") -> str:
    """A command on ``data_dir``, in this process (fast), through the CLI's entry point."""
    saved = sys.stdin, sys.stdout
    sys.stdin, sys.stdout = io.StringIO(stdin), io.StringIO()
    try:
        main([*argv, "--data-dir", str(data_dir)])
    except SystemExit as exit_:
        assert not exit_.code, (argv, sys.stdout.getvalue())
    finally:
        out = sys.stdout.getvalue()
        sys.stdin, sys.stdout = saved
    return out


def populate(data_dir: Path, tmp_path: Path) -> dict[str, str]:
    """Users (one migrated, with its bcrypt hash), files (one release yanked), a group with a
    role, a private project, a reserved name, tokens (one revoked); returns the secrets."""
    packages = tmp_path / "packages"
    make_wheel(packages / "alpha", "alpha", "1.0")
    make_sdist(packages / "alpha", "alpha", "1.0")
    make_wheel(packages / "beta", "beta", "2.0")
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"bob:{ALICE}\n")  # bob's password is alice-password-1
    pubkit_cli(data_dir, "user", "add", "root", "--admin", "--password-stdin",
               stdin="root-password\n")  # fmt: skip
    pubkit_cli(data_dir, "user", "add", "alice", "--password-stdin", stdin="alice-password\n")
    pubkit_cli(data_dir, "migrate", "from-pypiserver", str(packages), "--htpasswd",
               str(htpasswd), "--owner", "alice")  # fmt: skip
    pubkit_cli(data_dir, "group", "add", "platform")
    pubkit_cli(data_dir, "group", "add-member", "platform", "bob")
    pubkit_cli(data_dir, "role", "grant", "beta", "@platform", "maintainer")
    pubkit_cli(data_dir, "role", "grant", "alpha", "bob", "reader")
    pubkit_cli(data_dir, "role", "grant", "reserved-name", "root", "owner")
    pubkit_cli(data_dir, "project", "private", "beta")
    pubkit_cli(data_dir, "yank", "alpha", "1.0", "--reason", "broken build")
    upload = pubkit_cli(data_dir, "token", "create", "--user", "alice", "--project", "alpha",
                        "--expires", "30d", "--description", "CI").strip()  # fmt: skip
    revoked = pubkit_cli(data_dir, "token", "create", "--user", "bob", "--read").strip()
    pubkit_cli(data_dir, "token", "revoke", revoked)
    return {"upload": upload.split()[-1], "revoked": revoked.split()[-1]}


def files_of(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes()
            for path in sorted(root.rglob("*")) if path.is_file()}  # fmt: skip


def state(catalog: Catalog) -> tuple[Any, ...]:
    access = backup.export_access(catalog)
    for token in access["tokens"]:
        token.pop("last_used")  # a use after the export is the catalog's own record
    for project in access["projects"]:
        project.pop("created")  # the rebuild creates the projects (the page says so)
    return (access["users"], access["groups"], access["projects"], access["roles"],
            access["tokens"], sorted(catalog.all_files(), key=lambda r: r.filename))  # fmt: skip


def test_backup_then_restore_as_the_page_says(tmp_path: Path) -> None:
    restore = console_commands("Restore")
    assert [command.split()[:3] for command in restore] == [
        ["pubkit", "index", "mirror"], ["pubkit", "index", "rebuild"],
        ["pubkit", "index", "import"]]  # fmt: skip
    old, new, kept = tmp_path / "old", tmp_path / "new", tmp_path / "backup"
    secrets = populate(old, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBKIT_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(BACKUP_FILES=(kept / "files").as_uri(), BACKUP_ACCESS=str(kept / "access.json"))

    def follow(section: str, data_dir: Path) -> None:
        place = {"PUBKIT_STORAGE": (data_dir / "files").as_uri(),
                 "PUBKIT_CATALOG": f"sqlite:///{data_dir / 'catalog.sqlite3'}"}  # fmt: skip
        for command in console_commands(section):
            result = subprocess.run(["bash", "-euo", "pipefail", "-c", command], env=env | place,
                                    capture_output=True, text=True, timeout=180)  # fmt: skip
            assert result.returncode == 0, (command, result.stdout, result.stderr)

    kept.mkdir()
    follow("Backup", old)
    assert (kept / "access.json").stat().st_mode & 0o777 == 0o600
    new.mkdir()
    follow("Restore", new)

    assert files_of(new / "files") == files_of(old / "files")
    before, after = open_catalog(f"sqlite:///{old / 'catalog.sqlite3'}"), open_catalog(
        f"sqlite:///{new / 'catalog.sqlite3'}")  # fmt: skip
    try:
        assert state(after) == state(before)
        assert [record.yanked for record in after.project_files("alpha")] == [True, True]
        assert after.private_projects() == {"beta"}
        authenticator = Authenticator(after, 60)
        assert authenticator.authenticate(Credentials("alice", "alice-password")).name == "alice"
        # bob, migrated from htpasswd, signs in with the old password (and is upgraded).
        assert authenticator.authenticate(Credentials("bob", "alice-password-1")).name == "bob"
        principal = authenticator.authenticate(Credentials("__token__", secrets["upload"]))
        assert principal.token is not None and principal.token.projects == ("alpha",)
        with pytest.raises(Exception, match="revoked"):
            authenticator.authenticate(Credentials("__token__", secrets["revoked"]))
    finally:
        before.close()
        after.close()
