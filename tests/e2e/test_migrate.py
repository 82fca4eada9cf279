"""After `pubkit migrate` from a pypiserver directory and a pypicloud bucket (moto's S3), a
live `pubkit serve` hands the migrated files to pip with their original hashes, and a user of
the htpasswd file uploads with twine using their old bcrypt password."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pubkit.cli import main
from pubkit.server.catalog import open_catalog
from pubkit.testing import LiveServer, make_sdist, make_wheel
from tests.e2e.support import Venv, output, pip_install, sha256_of, twine_upload

pytestmark = pytest.mark.e2e
PASSWORD = "old-pypiserver-password"


@dataclass(frozen=True)
class Migrated:
    server: LiveServer
    sources: dict[str, Path]


def write_htpasswd(path: Path) -> None:
    """alice with a bcrypt hash, as Apache's htpasswd -B writes it (the tool itself when this
    machine has it: apt install apache2-utils)."""
    if shutil.which("htpasswd"):
        subprocess.run(["htpasswd", "-Bbc", "-C", "5", str(path), "alice", PASSWORD],
                       check=True, capture_output=True)  # fmt: skip
        return
    import bcrypt

    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(5)).decode()
    path.write_text(f"alice:{hashed.replace('$2b$', '$2y$', 1)}\n")


def sqlite_files(server: LiveServer) -> str:
    """The catalog's files and which of them the server holds open (a WAL it writes after
    another process deleted it would show as "(deleted)"): what a lost write needs to be
    explained."""
    names = sorted(f"{p.name}={p.stat().st_size}" for p in server.data_dir.glob("catalog*"))
    held = []
    if server.process is not None:
        for fd in Path(f"/proc/{server.process.pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if "catalog" in target:
                    held.append(target)
    return f"catalog files {names}; the server holds {sorted(held)}\n"


def pubkit(*args: str) -> None:
    """A pubkit command, in this process (the server is the real process under test)."""
    try:
        main(list(args))
    except SystemExit as exit_:
        assert not exit_.code, args


@pytest.fixture(scope="module")
def migrated(moto_s3: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Migrated]:
    import boto3

    root = tmp_path_factory.mktemp("pypiserver")
    data_dir = tmp_path_factory.mktemp("pubkit") / "data"
    sources = {
        "alpha-wheel": make_wheel(root / "alpha", "mig-alpha", "1.0", requires=["mig-beta>=2"]),
        "alpha-sdist": make_sdist(root / "alpha", "mig-alpha", "1.0", requires=["mig-beta>=2"]),
    }
    htpasswd = root.parent / "htpasswd"
    write_htpasswd(htpasswd)
    pubkit("migrate", "from-pypiserver", str(root), "--htpasswd", str(htpasswd),
           "--owner", "alice", "--data-dir", str(data_dir))  # fmt: skip

    bucket = "e2e-migrate-pypicloud"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    dists = tmp_path_factory.mktemp("pypicloud")
    sources["beta-wheel"] = make_wheel(dists, "mig-beta", "2.0")
    beta = sources["beta-wheel"]
    prefix = hashlib.md5(beta.name.encode(), usedforsecurity=False).hexdigest()[:4]
    s3.put_object(Bucket=bucket, Key=f"pypi/{prefix}/mig-beta/{beta.name}",
                  Body=beta.read_bytes(),
                  Metadata={"name": "mig-beta", "version": "2.0"})  # fmt: skip
    pubkit("migrate", "from-pypicloud", f"s3://{bucket}/pypi?addressing=path",
           "--owner", "alice", "--data-dir", str(data_dir))  # fmt: skip

    server = LiveServer(data_dir).start()
    try:
        yield Migrated(server, sources)
    finally:
        server.stop()


def test_pip_installs_migrated_files_with_their_original_hashes(
    migrated: Migrated, venv: Venv, tmp_path: Path
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        f"mig-alpha==1.0 --hash=sha256:{sha256_of(migrated.sources['alpha-wheel'])}"
        f" --hash=sha256:{sha256_of(migrated.sources['alpha-sdist'])}\n"
        f"mig-beta==2.0 --hash=sha256:{sha256_of(migrated.sources['beta-wheel'])}\n"
    )
    result = pip_install(venv, migrated.server, "--require-hashes", "-r", str(requirements))
    assert result.returncode == 0, output(result)
    assert venv.installed().items() >= {"mig-alpha": "1.0", "mig-beta": "2.0"}.items()


def test_htpasswd_user_uploads_with_the_old_password(
    migrated: Migrated, tmp_path: Path
) -> None:
    catalog = open_catalog(f"sqlite:///{migrated.server.data_dir / 'catalog.sqlite3'}")
    try:
        alice = catalog.user("alice")
        assert alice is not None and alice.password_hash.startswith("bcrypt$$2y$05$")
        wheel = make_wheel(tmp_path, "mig-alpha", "1.1", requires=["mig-beta>=2"])
        result = twine_upload(migrated.server, [wheel], "alice", PASSWORD)
        assert result.returncode == 0, output(result)
        # What the server wrote, read through a catalog of its own each time (the upgrade is
        # its own transaction beside the upload; give it a moment on a busy machine).
        deadline = time.monotonic() + 15
        while True:
            fresh = open_catalog(f"sqlite:///{migrated.server.data_dir / 'catalog.sqlite3'}")
            try:
                alice = fresh.user("alice")
            finally:
                fresh.close()
            assert alice is not None
            if alice.password_hash.startswith("scrypt$") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert alice.password_hash.startswith("scrypt$"), (
            sqlite_files(migrated.server) + migrated.server.log()[-3000:])
        # The same old password still signs in, now against scrypt.
        again = twine_upload(migrated.server, [make_wheel(tmp_path, "mig-alpha", "1.2")],
                             "alice", PASSWORD)  # fmt: skip
        assert again.returncode == 0, output(again)
        wrong = twine_upload(migrated.server, [make_wheel(tmp_path, "mig-alpha", "1.3")],
                             "alice", "not-the-password")  # fmt: skip
        assert wrong.returncode != 0
    finally:
        catalog.close()
