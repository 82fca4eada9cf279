"""The storage contract: a flat key space of immutable-by-convention objects.

Keys are ``/``-separated relative paths built by :mod:`pubkit.server.layout` from validated
names only; implementations still refuse keys that could escape their root.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from pubkit.errors import StorageError

_SAFE_KEY = re.compile(r"^[A-Za-z0-9._+!-]+(/[A-Za-z0-9._+!-]+)*$")


def check_key(key: str) -> str:
    """Refuse a key that is empty, absolute, or has a ``.``/``..`` segment."""
    if not _SAFE_KEY.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise StorageError(f"refusing unsafe storage key {key[:120]!r}")
    return key


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    # When the object was last written (None if the backend cannot say): lets maintenance
    # tell an upload in progress from a leftover of a crash.
    modified: datetime | None = None


class Storage(Protocol):
    """Where distributions, their sidecars and their metadata files live."""

    def put_new(self, key: str, source: Path) -> bool:
        """Store ``source`` under ``key`` unless ``key`` exists; return whether it was stored.

        Atomic: readers see either nothing or the whole object, never part of it.
        """
        ...

    def replace(self, key: str, source: Path) -> None:
        """Store ``source`` under ``key``, replacing what is there; atomic like ``put_new``.

        Only for a key whose owner is decided already (a committed file's bytes)."""
        ...

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store (or replace) a small object atomically."""
        ...

    def read_bytes(self, key: str) -> bytes:
        """The whole content of a small object; raises NotFoundError if it is missing."""
        ...

    def open(self, key: str) -> BinaryIO:
        """A readable binary stream; raises NotFoundError if the object is missing."""
        ...

    def size(self, key: str) -> int | None:
        """The object's size, or ``None`` when it does not exist."""
        ...

    def delete(self, key: str) -> None:
        """Remove an object; removing a missing one is not an error."""
        ...

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        """Every object whose key starts with ``prefix``, in one listing pass."""
        ...

    def check(self) -> None:
        """Raise StorageError unless the storage can be read and written now."""
        ...

    def local_path(self, key: str) -> Path | None:
        """A filesystem path for zero-copy serving, when the storage has one."""
        ...


@runtime_checkable
class Presigning(Protocol):
    """A storage that can hand clients a time-limited URL of its own (S3)."""

    def presigned_url(self, key: str, expires: int) -> str: ...
