"""A storage that times every call of another one into the server's metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pubkit.errors import NotFoundError
from pubkit.server.metrics import Metrics
from pubkit.server.storage.base import Presigning, Storage, StoredObject

_HISTOGRAM = "pubkit_storage_operation_duration_seconds"
_ERRORS = "pubkit_storage_errors"


class TimedStorage:
    """Delegates to ``inner``; each call is observed under its operation's name, and counted
    as an error when it raises (a missing key answered as None or NotFoundError is an
    answer, not an error: only StorageError and unexpected exceptions count)."""

    def __init__(self, inner: Storage, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def __repr__(self) -> str:
        return repr(self.inner)

    def _timer(self, operation: str) -> _Observed:
        return _Observed(self.metrics, operation)

    def put_new(self, key: str, source: Path) -> bool:
        with self._timer("put_new"):
            return self.inner.put_new(key, source)

    def replace(self, key: str, source: Path) -> None:
        with self._timer("replace"):
            self.inner.replace(key, source)

    def put_bytes(self, key: str, data: bytes) -> None:
        with self._timer("put_bytes"):
            self.inner.put_bytes(key, data)

    def read_bytes(self, key: str) -> bytes:
        with self._timer("read"):
            return self.inner.read_bytes(key)

    def open(self, key: str) -> BinaryIO:
        with self._timer("open"):
            return self.inner.open(key)

    def size(self, key: str) -> int | None:
        with self._timer("size"):
            return self.inner.size(key)

    def delete(self, key: str) -> None:
        with self._timer("delete"):
            self.inner.delete(key)

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        with self._timer("list"):
            yield from self.inner.list(prefix)

    def check(self) -> None:
        with self._timer("check"):
            self.inner.check()

    def local_path(self, key: str) -> Path | None:
        return self.inner.local_path(key)


class TimedPresigningStorage(TimedStorage):
    inner: Presigning  # type: ignore[assignment]

    def presigned_url(self, key: str, expires: int) -> str:
        return self.inner.presigned_url(key, expires)  # local signing: no request to time


def timed(storage: Storage, metrics: Metrics) -> Storage:
    if isinstance(storage, Presigning):
        return TimedPresigningStorage(storage, metrics)
    return TimedStorage(storage, metrics)


class _Observed:
    __slots__ = ("metrics", "operation", "started")

    def __init__(self, metrics: Metrics, operation: str) -> None:
        self.metrics = metrics
        self.operation = operation
        self.started = 0.0

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        elapsed = time.perf_counter() - self.started
        labels = (self.operation,)
        with self.metrics.lock:
            self.metrics.observe(_HISTOGRAM, labels, elapsed)
            if kind is not None and not issubclass(kind, (NotFoundError, GeneratorExit)):
                self.metrics.inc(_ERRORS, labels)
