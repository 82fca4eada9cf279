"""Spool files are named after their writer; a sweep removes what nobody will finish."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pubkit.server import spool


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_spool_file_names_its_host_and_process(tmp_path: Path) -> None:
    fd, path = spool.create(tmp_path / "tmp", "upload", ".part")
    os.close(fd)
    assert path.name.startswith(f"upload-{spool._HOST}-{os.getpid()}-")
    assert path.name.endswith(".part")


def test_the_sweep_removes_files_of_dead_processes_and_old_ones_only(tmp_path: Path) -> None:
    now = time.time()
    mine = tmp_path / f"upload-{spool._HOST}-{os.getpid()}-a.part"
    orphan = tmp_path / f"upload-{spool._HOST}-{dead_pid()}-b.part"
    other_host = tmp_path / "upload-elsewhere-1-c.part"  # another replica's, on a shared dir
    old = tmp_path / "upload-elsewhere-2-d.part"
    for path in (mine, orphan, other_host, old):
        path.write_bytes(b"x")
    os.utime(old, (now - spool.STALE_AFTER - 1, now - spool.STALE_AFTER - 1))
    assert spool.sweep(tmp_path, now) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, other_host.name])


def test_sweeping_a_missing_spool_is_nothing(tmp_path: Path) -> None:
    assert spool.sweep(tmp_path / "absent") == 0


def test_a_full_disk_is_a_507_that_says_so(tmp_path: Path) -> None:
    import errno

    error = spool.write_error(OSError(errno.ENOSPC, "No space left on device"), tmp_path)
    assert error.http_status == 507
    assert "disk is full" in error.message and "\n" not in error.message
    other = spool.write_error(OSError(errno.EACCES, "Permission denied"), tmp_path)
    assert other.http_status == 503 and "Permission denied" in other.message
