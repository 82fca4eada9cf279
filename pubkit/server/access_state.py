"""The access state in storage: users, groups, members, roles, private flags, tokens and
the upstream guard's rules.

Storage is the truth, so access data must be there too, or a rebuilt catalog would have no
users, every private project would be public, and a reserved name would be open to the
upstream again (dependency confusion). Every access change stores the whole access document
(the export format of :mod:`pubkit.server.backup`, version 2, or 3 with upstream rules:
password and token *hashes*, never a secret) as a new, numbered snapshot::

    .access/0000000000000042.json

- The prefix cannot be a project's: keys whose first segment starts with a dot are pubkit's
  own (:func:`pubkit.server.layout.is_reserved`); a project name never starts with one.
- A snapshot is written inside the change's catalog transaction, before the commit
  (:meth:`Catalog._change`): if storage refuses it, the change is undone and the caller gets
  the storage's error. If the commit fails after it, the snapshot holds a change the catalog
  does not: a rebuild restores it (what was asked for, but answered with an error).
- Access changes take turns in the catalog (a PostgreSQL advisory lock; SQLite's write lock),
  so each snapshot includes every change committed before it, on every replica. Its number is
  one more than the highest in storage, created with ``put_new`` (create-if-absent: ``link``
  locally, ``If-None-Match: *`` on S3): two writers can never both store number N; the loser
  reads the listing again and takes the next.
- The catalog remembers the newest number it wrote or was restored from (``catalog_info``).
  An access change in a catalog that lacks a newer snapshot in storage (a new, empty catalog
  before ``index rebuild``; a commit that failed after its snapshot was stored) is refused:
  its snapshot would supersede state it does not hold. ``index rebuild`` brings it level.
- Snapshots are immutable; the newest :data:`KEEP` are kept, older ones deleted after each
  write. A rebuild reads one listing of the prefix and one object, whatever the index's age.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pubkit.errors import CatalogError, NotFoundError, PubkitError, StorageError
from pubkit.server.catalog import Catalog
from pubkit.server.catalog.records import Access
from pubkit.server.layout import ACCESS_PREFIX
from pubkit.server.storage import Storage

log = logging.getLogger("pubkit.server")

PREFIX = ACCESS_PREFIX
KEEP = 10
ATTEMPTS = 8
_SNAPSHOT = re.compile(r"([0-9]{16})\.json")


def snapshot_key(number: int) -> str:
    return f"{PREFIX}{number:016d}.json"


def snapshot_number(key: str) -> int:
    """The number of the snapshot stored under ``key`` (one :func:`snapshot_key` made)."""
    return int(key[len(PREFIX) :].split(".")[0])


def snapshot_numbers(storage: Storage) -> list[int]:
    """The numbers of the snapshots in storage, ascending (one listing of the prefix)."""
    numbers = []
    for obj in storage.list(PREFIX):
        found = _SNAPSHOT.fullmatch(obj.key[len(PREFIX) :])
        if found:
            numbers.append(int(found.group(1)))
    return sorted(numbers)


class AccessSnapshots:
    """Writes access snapshots to a storage (opened on first use: a command that changes no
    access opens nothing); attached to a catalog as :attr:`Catalog.access_state`."""

    def __init__(
        self, storage: Storage | Callable[[], Storage], spool_dir: Path | None = None,
        keep: int = KEEP,
    ) -> None:  # fmt: skip
        self._storage = storage
        self._opened: Storage | None = None
        self.spool_dir = spool_dir
        self.keep = keep

    @property
    def storage(self) -> Storage:
        if self._opened is None:
            source = self._storage
            self._opened = source() if callable(source) else source
        return self._opened

    def record(self, access: Access, known: int | None) -> int:
        """Store ``access`` as the next snapshot (called inside the catalog transaction,
        whose catalog knows snapshot ``known``); its number."""
        from pubkit.server.backup import access_document

        return self.write(access_document(access), known)

    def holds(self, access: Access, document: Any) -> bool:
        from pubkit.server.backup import access_document

        return bool(access_document(access) == document)

    def write(self, document: dict[str, Any], known: int | None) -> int:
        """Store ``document`` as the next snapshot; its number. Refused (AccessStateAhead)
        when storage holds a snapshot newer than ``known``."""
        data = (json.dumps(document, sort_keys=True) + "\n").encode()
        storage = self.storage
        spooled = _spool(data, self.spool_dir)
        try:
            for _attempt in range(ATTEMPTS):
                numbers = snapshot_numbers(storage)
                newest = numbers[-1] if numbers else 0
                if newest > (known or 0):
                    raise AccessStateAhead(
                        f"storage holds access state this catalog lacks (snapshot {newest});"
                        " run `pubkit index rebuild` to restore it, then retry"
                    )
                number = max(newest, known or 0) + 1
                if storage.put_new(snapshot_key(number), spooled):
                    break
            else:
                raise StorageError(
                    "could not store the access snapshot: other writers took every number"
                    " tried; retry"
                )
        finally:
            spooled.unlink(missing_ok=True)
        self._prune(storage, [n for n in numbers if n <= number - self.keep])
        return number

    @staticmethod
    def _prune(storage: Storage, numbers: list[int]) -> None:
        for old in numbers:
            try:
                storage.delete(snapshot_key(old))
            except PubkitError as error:  # the next write tries again
                log.warning("could not delete an old access snapshot: %s", error.message)

    def seed(self, catalog: Catalog) -> bool:
        """Store the catalog's access data if storage has none yet (an index from before
        access snapshots existed) and the catalog has some; whether it did."""
        if snapshot_numbers(self.storage):
            return False
        from pubkit.server.backup import access_document

        document = access_document(catalog.access())
        if not any(document.get(part) for part in ("users", "groups", "projects", "tokens",
                                                    "upstream")):
            return False
        self._store(catalog)
        return True

    def add_rules(self, catalog: Catalog) -> bool:
        """Store the catalog's access data again if the newest snapshot predates upstream
        rules (a version 1 or 2 document) while the catalog has some (they were kept in the
        catalog alone before this release), and the catalog knows that snapshot; whether it
        did. The next access change would store them too; this does not wait for one."""
        found = latest_snapshot(self.storage)
        if found is None or "upstream" in found[1]:
            return False
        if not catalog.upstream_rules():
            return False
        if catalog.access_snapshot() != snapshot_number(found[0]):
            return False  # behind storage: `index rebuild` first, as for any change
        self._store(catalog)
        return True

    def _store(self, catalog: Catalog) -> None:
        """The catalog's access state as the next snapshot, written here."""
        previous, catalog.access_state = catalog.access_state, self
        try:
            catalog.store_access()
        finally:
            catalog.access_state = previous


class AccessStateAhead(CatalogError):
    """Storage holds an access snapshot newer than the catalog knows: restore it first."""


def latest_snapshot(storage: Storage) -> tuple[str, Any] | None:
    """The newest snapshot's key and parsed JSON; None when storage holds none. An
    unreadable one is a CatalogError naming it: the caller must not go on without it."""
    numbers = snapshot_numbers(storage)
    if not numbers:
        return None
    key = snapshot_key(numbers[-1])
    try:
        return key, json.loads(storage.read_bytes(key))
    except NotFoundError:
        # Pruned between the listing and the read: a newer one exists now.
        return latest_snapshot(storage)
    except (ValueError, UnicodeDecodeError):
        raise CatalogError(
            f"the access snapshot {key} is not valid JSON; restore it from a backup (or delete"
            " it to fall back to the one before)"
        ) from None


def _spool(data: bytes, spool_dir: Path | None) -> Path:
    """``data`` in a new file of mode 0600 (it holds password hashes), for ``put_new``."""
    if spool_dir is not None:
        spool_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=spool_dir, prefix=".tmp-access-", suffix=".json")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return Path(name)
