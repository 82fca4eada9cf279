"""Storage in a dict: for tests and for trying things out."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from pubkit.errors import NotFoundError
from pubkit.server.storage.base import StoredObject, check_key


class MemoryStorage:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.modified: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def _set(self, key: str, data: bytes) -> None:
        self.objects[key] = data
        self.modified[key] = datetime.now(timezone.utc)

    def put_new(self, key: str, source: Path) -> bool:
        data = source.read_bytes()
        with self._lock:
            if check_key(key) in self.objects:
                return False
            self._set(key, data)
        return True

    def replace(self, key: str, source: Path) -> None:
        data = source.read_bytes()
        with self._lock:
            self._set(check_key(key), data)

    def put_bytes(self, key: str, data: bytes) -> None:
        with self._lock:
            self._set(check_key(key), bytes(data))

    def read_bytes(self, key: str) -> bytes:
        try:
            return self.objects[check_key(key)]
        except KeyError:
            raise NotFoundError(f"{key} is not in storage") from None

    def open(self, key: str) -> BinaryIO:
        return io.BytesIO(self.read_bytes(key))

    def size(self, key: str) -> int | None:
        data = self.objects.get(check_key(key))
        return None if data is None else len(data)

    def delete(self, key: str) -> None:
        with self._lock:
            self.objects.pop(check_key(key), None)
            self.modified.pop(key, None)

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        with self._lock:
            items = sorted(self.objects.items())
        for key, data in items:
            if key.startswith(prefix):
                yield StoredObject(key, len(data), self.modified.get(key))

    def check(self) -> None:
        return None

    def local_path(self, key: str) -> Path | None:
        return None
