"""Secrets at rest: the catalog (password and token hashes) and its WAL and shared-memory
files are 0600, the data directory pubkit creates is 0700, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pubkit.server.auth.passwords import hash_password
from pubkit.server.catalog import open_catalog


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_a_new_catalog_and_its_wal_are_private(tmp_path: Path, open_umask: None) -> None:
    data_dir = tmp_path / "data"
    path = data_dir / "catalog.sqlite3"
    catalog = open_catalog(f"sqlite:///{path}")
    try:
        catalog.add_user("alice", hash_password("alice-password-1"))
        companions = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
        assert all(p.exists() for p in companions), sorted(data_dir.iterdir())
        assert {p.name: mode(p) for p in [path, *companions]} == {
            "catalog.sqlite3": 0o600, "catalog.sqlite3-wal": 0o600, "catalog.sqlite3-shm": 0o600}
    finally:
        catalog.close()
    assert mode(data_dir) == 0o700


def test_a_readable_catalog_of_an_older_version_is_tightened(
    tmp_path: Path, open_umask: None
) -> None:
    path = tmp_path / "catalog.sqlite3"
    open_catalog(f"sqlite:///{path}").close()
    path.chmod(0o644)
    wal = path.with_name(path.name + "-wal")
    wal.write_bytes(b"")
    wal.chmod(0o644)
    catalog = open_catalog(f"sqlite:///{path}")
    try:
        assert mode(path) == 0o600 and mode(wal) == 0o600
    finally:
        catalog.close()


def held_locks(*paths: Path) -> set[str]:
    """The files among ``paths`` on which this process holds a POSIX lock (/proc/locks)."""
    inodes = {path.stat().st_ino: path.name for path in paths}
    held = set()
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if fields[1] == "POSIX" and int(fields[4]) == os.getpid():
            inode = int(fields[5].rsplit(":", 1)[1])
            if inode in inodes:
                held.add(inodes[inode])
    return held


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="reads Linux's /proc/locks")
def test_opening_the_catalog_again_keeps_the_locks_of_connections_already_open(
    tmp_path: Path,
) -> None:
    """Closing any descriptor of a file drops all of the process's POSIX locks on it. Had
    opening a second catalog done that, the first one's connections would run without their
    locks, and another process closing its last connection could delete the WAL under them."""
    path = tmp_path / "catalog.sqlite3"
    first = open_catalog(f"sqlite:///{path}")
    second = None
    try:
        first.user("alice")
        files = (path, path.with_name(path.name + "-shm"))
        before = held_locks(*files)
        assert before == {"catalog.sqlite3", "catalog.sqlite3-shm"}
        path.chmod(0o644)  # tightening must not touch the locks either
        second = open_catalog(f"sqlite:///{path}")
        assert held_locks(*files) == before
        assert mode(path) == 0o600
    finally:
        first.close()
        if second is not None:
            second.close()


def test_a_catalog_path_that_is_a_directory_is_one_line(tmp_path: Path) -> None:
    from pubkit.errors import ConfigurationError

    (tmp_path / "catalog.sqlite3").mkdir()
    with pytest.raises(ConfigurationError, match="is a directory, not a file"):
        open_catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
