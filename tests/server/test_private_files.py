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
