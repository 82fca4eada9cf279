"""The data directory and the catalog file: created private, and refused in one line when
they cannot be used.

The catalog holds password and token hashes: its SQLite file is created 0600 before SQLite
opens it, and SQLite gives its ``-wal``, ``-shm`` and ``-journal`` files the mode of the
database file. A catalog (or its companions) left readable by an older version is tightened
when opened. A data directory pubkit creates is 0700.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from pubkit.errors import ConfigurationError

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def ensure_directory(path: Path, what: str, hint: str) -> None:
    """Create ``path`` (0700, parents as needed) unless it is a directory already; one line
    saying why not (``what`` names it, ``hint`` says what to change) otherwise."""
    if path.is_dir():
        return
    try:
        path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigurationError(f"{what} {path} is a file, not a directory; {hint}") from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigurationError(f"cannot create {what} {path}: {reason}; {hint}") from None


def ensure_private_file(path: Path, what: str, hint: str) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist, and take the group's and
    others' permissions off it (and off its SQLite companions) if it does.

    An existing file is changed by path, never opened: closing any descriptor of a file
    drops every POSIX lock this process holds on it, and SQLite's locks are POSIX locks. A
    process that opened the catalog twice would otherwise be left holding connections
    without their locks, and another process could then checkpoint and delete the WAL under
    them (SQLite's "How To Corrupt An SQLite Database File", section 2.2)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        if path.is_dir():
            raise ConfigurationError(f"{what} {path} is a directory, not a file; {hint}") from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigurationError(f"cannot open {what} {path}: {reason}; {hint}") from None
    else:
        os.close(descriptor)  # a file no connection has opened yet: no lock to lose
    for target in (path, *(path.with_name(path.name + s) for s in SQLITE_COMPANIONS)):
        try:
            _tighten(target)
        except OSError as error:
            if target == path:
                reason = error.strerror or str(error)
                raise ConfigurationError(f"cannot open {what} {path}: {reason}; {hint}") from None


def _tighten(path: Path) -> None:
    """Take the group's and others' permissions off a regular file (not a link's target)."""
    mode = os.lstat(path).st_mode
    if stat.S_IMODE(mode) & 0o077 and stat.S_ISREG(mode):
        # Only the owner may change a file's mode; someone else's file stays as it is.
        with contextlib.suppress(PermissionError):
            path.chmod(stat.S_IMODE(mode) & ~0o077)
