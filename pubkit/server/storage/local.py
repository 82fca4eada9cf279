"""Storage in a local directory: atomic writes via a temporary file, fsync and rename."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from pubkit.errors import InsufficientStorageError, NotFoundError, StorageError
from pubkit.server.storage.base import StoredObject, check_key


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _write_temp(self, target: Path, fill: object) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(fill, bytes):
                    out.write(fill)
                else:
                    assert isinstance(fill, Path)
                    with fill.open("rb") as source:
                        shutil.copyfileobj(source, out, 1024 * 1024)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return Path(name)

    def put_new(self, key: str, source: Path) -> bool:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._fsync(source)
            try:
                # Zero-copy when the source (an fsynced upload spool) is on our filesystem;
                # link() fails if the target exists: an atomic create-if-absent.
                os.link(source, target)
            except FileExistsError:
                return False
            except OSError as error:
                if error.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP):
                    raise
                temp = self._write_temp(target, source)
                try:
                    os.link(temp, target)
                except FileExistsError:
                    return False
                finally:
                    temp.unlink(missing_ok=True)
            self._fsync(target.parent)
        except OSError as error:
            raise self._error("store", key, error) from error
        return True

    def replace(self, key: str, source: Path) -> None:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._fsync(source)
            temp = target.parent / f".tmp-{secrets.token_hex(8)}.part"
            try:
                os.link(source, temp)  # zero-copy, as in put_new
            except OSError as error:
                if error.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP):
                    raise
                temp = self._write_temp(target, source)
            try:
                temp.replace(target)
            finally:
                temp.unlink(missing_ok=True)
            self._fsync(target.parent)
        except OSError as error:
            raise self._error("store", key, error) from error

    def put_bytes(self, key: str, data: bytes) -> None:
        target = self._path(key)
        try:
            temp = self._write_temp(target, data)
            temp.replace(target)
            self._fsync(target.parent)
        except OSError as error:
            raise self._error("store", key, error) from error

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"{key} is not in storage") from None
        except OSError as error:
            raise self._error("read", key, error) from error

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            raise NotFoundError(f"{key} is not in storage") from None
        except OSError as error:
            raise self._error("read", key, error) from error

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as error:
            raise self._error("delete", key, error) from error

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        # Only the directory the prefix names is walked (an access log's listing must not
        # cost a walk of every project).
        folder = prefix.rpartition("/")[0]
        safe = folder and not any(part in ("", ".", "..") for part in folder.split("/"))
        start = self.root / folder if safe else self.root
        if not start.is_dir():
            return
        for directory, _dirs, files in os.walk(start):
            for name in files:
                if name.startswith(".tmp-"):
                    continue
                path = Path(directory, name)
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    try:
                        stat = path.stat()
                    except FileNotFoundError:
                        continue
                    modified = datetime.fromtimestamp(stat.st_mtime, timezone.utc)
                    yield StoredObject(key, stat.st_size, modified)

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            # A probe of its own: workers and replicas sharing the root check at once, and
            # one's unlink must not pull the file from under another's.
            fd, probe = tempfile.mkstemp(dir=self.root, prefix=".tmp-ready-probe-")
            try:
                os.write(fd, b"ok")
            finally:
                os.close(fd)
                Path(probe).unlink()
        except OSError as error:
            raise self._error("write to", "the storage root", error) from error

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    @staticmethod
    def _fsync(path: Path) -> None:
        """Flush a file, or a directory (a new link is durable only once its entry is)."""
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _error(self, verb: str, key: str, error: OSError) -> StorageError:
        message = f"could not {verb} {key} in {self.root}: {error.strerror}"
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            return InsufficientStorageError(f"{message}; free some disk space")
        return StorageError(f"{message}; check the data directory")
