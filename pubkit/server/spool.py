"""The upload spool (``DATA_DIR/tmp/``): files named after their writer, and swept at start.

A spool file is ``<kind>-<host>-<pid>-<random><suffix>``. Every code path that creates one
removes it, but a process killed with SIGKILL (or a machine that lost power) cannot: each
worker sweeps the spool when it starts. A file of this host whose process is gone is
removed at once; any other (another replica's, on a shared data dir; an older name) only
once it has not been written to for :data:`STALE_AFTER` seconds, which no upload in
progress comes near: a spool file is written to while it is received and read from, at
most, while it is stored.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import socket
import tempfile
import time
from pathlib import Path

from pubkit.errors import InsufficientStorageError, PubkitError, StorageError

log = logging.getLogger("pubkit.server")

STALE_AFTER = 3600.0
_HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:64] or "host"
_NAME = re.compile(r"^[a-z]+-(?P<host>[A-Za-z0-9._]+)-(?P<pid>[0-9]+)-")


def create(spool_dir: Path, kind: str, suffix: str = "") -> tuple[int, Path]:
    """A new spool file (open file descriptor, path) named after this process."""
    try:
        spool_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=spool_dir, prefix=f"{kind}-{_HOST}-{os.getpid()}-",
                                    suffix=suffix)  # fmt: skip
    except OSError as error:
        raise write_error(error, spool_dir) from error
    return fd, Path(name)


def write_error(error: OSError, spool_dir: Path) -> PubkitError:
    """The answer to a failed write in the spool: 507 when the disk is full, else 503."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorageError(
            f"the server's disk is full: no space left for the upload spool in {spool_dir};"
            " ask the operator to free space, then retry"
        )
    return StorageError(
        f"the server could not write its upload spool in {spool_dir} ({error.strerror});"
        " ask the operator to check the data directory"
    )


def process_alive(pid: int) -> bool:
    """Whether the process ``pid`` on this host is alive (signal 0: nothing is sent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(name: str, mtime: float, now: float) -> bool:
    """Whether a spool file nobody will finish: its writer on this host is gone, or it has
    not been written to for :data:`STALE_AFTER` seconds."""
    match = _NAME.match(name)
    if match and match["host"] == _HOST and not process_alive(int(match["pid"])):
        return True
    return now - mtime > STALE_AFTER


def sweep(spool_dir: Path, now: float | None = None) -> int:
    """Remove the stale files of the spool; how many were removed."""
    now = time.time() if now is None else now
    removed = 0
    try:
        entries = list(os.scandir(spool_dir))
    except FileNotFoundError:
        return 0
    except OSError as error:
        log.warning("could not sweep the upload spool %s: %s", spool_dir, error.strerror)
        return 0
    for entry in entries:
        try:
            if entry.is_file(follow_symlinks=False) and is_stale(
                entry.name, entry.stat(follow_symlinks=False).st_mtime, now
            ):
                Path(entry.path).unlink()
                removed += 1
        except FileNotFoundError:
            continue  # another worker swept it first
        except OSError as error:
            log.warning("could not remove the stale spool file %s: %s", entry.path,
                        error.strerror)  # fmt: skip
    if removed:
        log.info("removed %d stale upload spool file(s) from %s", removed, spool_dir)
    return removed


__all__ = ["STALE_AFTER", "create", "is_stale", "sweep", "write_error"]
