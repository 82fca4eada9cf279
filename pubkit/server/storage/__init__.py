"""Storage backends, chosen by URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from pubkit.errors import ConfigurationError
from pubkit.server.storage.base import Storage, StoredObject, check_key
from pubkit.server.storage.local import LocalStorage
from pubkit.server.storage.memory import MemoryStorage

__all__ = [
    "LocalStorage",
    "MemoryStorage",
    "Storage",
    "StoredObject",
    "check_key",
    "open_object",
    "open_storage",
]


def open_storage(url: str) -> Storage:
    """``file:///path`` (local directory), ``s3://bucket/prefix`` or ``memory://``."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return LocalStorage(Path(unquote(parts.path)))
    if parts.scheme == "memory":
        return MemoryStorage()
    if parts.scheme == "s3":
        from pubkit.server.storage.s3 import S3Storage

        return S3Storage.from_url(url)
    raise ConfigurationError(
        f"storage URL {url!r} is not understood; use file:///PATH (the default is the data dir)"
        " or s3://BUCKET/PREFIX"
    )


def open_object(url: str) -> tuple[Storage, str]:
    """One object by URL, ``s3://BUCKET/PREFIX/NAME[?options]``: the storage that holds it
    (``s3://BUCKET/PREFIX[?options]``) and its key (``NAME``)."""
    parts = urlsplit(url)
    folder, _, name = parts.path.rstrip("/").rpartition("/")
    if parts.scheme != "s3" or not parts.hostname or not name:
        raise ConfigurationError(f"{url!r} names no object; use s3://BUCKET/PREFIX/NAME")
    query = f"?{parts.query}" if parts.query else ""
    return open_storage(f"s3://{parts.netloc}{folder}{query}"), check_key(name)
