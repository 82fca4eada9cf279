"""Move an old index's files and users into pubkit: every file through the upload checks and
the upload's own store path (:class:`~pubkit.server.upload.UploadService`), users from an
htpasswd file. Re-runnable: what pubkit has already is left alone, so a second run changes
nothing and an interrupted one finishes the job."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

from sqlalchemy.exc import SQLAlchemyError

from pubkit.core.distributions import parse_distribution_filename
from pubkit.errors import CatalogError, UploadError, UsageError
from pubkit.server.archives import read_core_metadata
from pubkit.server.auth.tokens import Principal
from pubkit.server.catalog import Catalog
from pubkit.server.layout import FileRecord
from pubkit.server.migrate.htpasswd import HtpasswdRefusal, HtpasswdUser
from pubkit.server.migrate.layouts import Candidate, Skip
from pubkit.server.migrate.sources import Source
from pubkit.server.storage import Storage
from pubkit.server.upload import UploadForm, UploadService

Outcome = Literal[
    "imported", "would import", "unchanged", "skipped", "refused", "conflict", "note",
    "user added", "user would be added", "user present", "user refused",
]  # fmt: skip
FAILURES = ("refused", "conflict", "user refused")


@dataclass(frozen=True)
class MigrationEvent:
    outcome: Outcome
    location: str
    detail: str = ""


@dataclass
class MigrationReport:
    counts: Counter[str] = field(default_factory=Counter)
    events: list[MigrationEvent] = field(default_factory=list)

    def add(self, event: MigrationEvent) -> None:
        self.counts[event.outcome] += 1
        self.events.append(event)

    @property
    def failures(self) -> int:
        return sum(self.counts[outcome] for outcome in FAILURES)

    @property
    def changed(self) -> bool:
        return bool(self.counts["imported"] or self.counts["user added"])

    def summary(self, dry_run: bool) -> str:
        c = self.counts
        if dry_run:
            files = f"{c['would import']} files would be imported"
            users = f"{c['user would be added']} users would be added"
        else:
            files = f"{c['imported']} files imported"
            users = f"{c['user added']} users added"
        return (f"{files}, {c['unchanged']} already in pubkit, {c['skipped']} skipped,"
                f" {c['refused']} refused, {c['conflict']} conflicts; {users},"
                f" {c['user present']} already present, {c['user refused']} refused")  # fmt: skip


@dataclass(frozen=True)
class _Spooled:
    path: Path
    size: int
    sha256: str
    md5: str
    blake2_256: str


class Migration:
    """One run: ``source`` into ``storage`` and ``catalog``, the projects it creates owned by
    ``owner``; ``on_event`` hears of each file and user as it is handled."""

    def __init__(
        self, source: Source, storage: Storage, catalog: Catalog, spool_dir: Path, *,
        owner: str, actor: str, dry_run: bool = False,
        on_event: Callable[[MigrationEvent], None] = lambda event: None,
    ) -> None:  # fmt: skip
        self.source = source
        self.storage = storage
        self.catalog = catalog
        self.spool_dir = spool_dir
        self.owner = owner
        self.actor = actor
        self.dry_run = dry_run
        self.on_event = on_event
        self.report = MigrationReport()
        # Canonical filename -> (where it came from in this run, its sha256).
        self._seen: dict[str, tuple[str, str]] = {}

    def _emit(self, outcome: Outcome, location: str, detail: str = "") -> None:
        event = MigrationEvent(outcome, location, detail)
        self.report.add(event)
        self.on_event(event)

    # -- users -----------------------------------------------------------------------------

    def check_owner(self, users: Sequence[HtpasswdUser]) -> None:
        """Refuse the run before it changes anything when the owner will not exist."""
        if self.catalog.user(self.owner) is None and self.owner not in {u.name for u in users}:
            raise UsageError(
                f"the owner {self.owner!r} is not a pubkit user nor in the htpasswd file; create"
                f" it with `pubkit user add {self.owner}` or pass --owner with an existing user"
            )

    def migrate_users(
        self, users: Sequence[HtpasswdUser], refused: Sequence[HtpasswdRefusal]
    ) -> None:
        """Add the users pubkit lacks, in one transaction; never touch one it has (it may have
        signed in and upgraded its hash, or been created again by hand)."""
        present = {user.name for user in self.catalog.users()}
        new = [user for user in users if user.name not in present]
        for user in users:
            if user.name in present:
                self._emit("user present", user.name, "pubkit has this user; left as it is")
        for refusal in refused:
            if refusal.name in present:
                detail = f"line {refusal.line} is not migrated, but pubkit has this user"
                self._emit("user present", refusal.name, detail)
            else:
                self._emit("user refused", refusal.name, refusal.describe())
        if not self.dry_run and new:
            try:
                with self.catalog.transaction() as writer:
                    for user in new:
                        writer.add_user(user.name, user.stored_hash, False)
            except SQLAlchemyError as error:
                # The driver's message may quote the statement's parameters (hashes).
                raise CatalogError(
                    f"could not add the users ({type(error).__name__}; nothing was added):"
                    " check that the catalog is reachable and run the migration again"
                ) from None
            for user in new:
                self.catalog.audit("migrate user", f"user {user.name}", self.actor,
                                   scheme=user.stored_hash.partition("$")[0])  # fmt: skip
        outcome: Outcome = "user would be added" if self.dry_run else "user added"
        for user in new:
            self._emit(outcome, user.name, "its old hash verifies the first sign-in, which"
                       " replaces it with scrypt")  # fmt: skip

    # -- files -----------------------------------------------------------------------------

    def migrate_files(self) -> None:
        uploads = self._uploads()
        for entry in self.source.entries():
            if isinstance(entry, Skip):
                self._emit("refused" if entry.refused else "skipped", entry.location, entry.reason)
                continue
            mismatch = entry.listing_mismatch()
            if mismatch is not None:
                self._emit("note", entry.location, mismatch)
            self._migrate_file(entry, uploads)

    def _uploads(self) -> tuple[UploadService, Principal] | None:
        if self.dry_run:
            return None
        owner = self.catalog.user(self.owner)
        assert owner is not None  # check_owner and migrate_users made sure
        # The operator running the migration on the index's own data may do anything an
        # admin may: the uploads act as the owner with an admin's rights, so the projects
        # they create are claimed for the owner and existing ones keep their roles.
        principal = Principal(dataclasses.replace(owner, is_admin=True))
        return UploadService(self.storage, self.catalog, self.spool_dir), principal

    def _migrate_file(
        self, candidate: Candidate, uploads: tuple[UploadService, Principal] | None
    ) -> None:
        parsed = parse_distribution_filename(candidate.filename)
        canonical = parsed.canonical
        existing = self.catalog.file(candidate.filename)
        if (existing is not None and candidate.size is not None
                and candidate.size != existing.size):  # fmt: skip
            self._conflict(candidate, canonical, "other bytes (another size)")
            return
        if existing is not None and _known_same(candidate, existing):
            # The source knows the bytes' hash: no need to download what pubkit has.
            self._seen.setdefault(canonical, (candidate.location, existing.sha256))
            self._emit("unchanged", candidate.location, f"pubkit has {existing.filename}")
            return
        spooled = self._spool(candidate)
        try:
            self._check_and_store(candidate, canonical, spooled, uploads)
        finally:
            spooled.path.unlink(missing_ok=True)

    def _check_and_store(
        self, candidate: Candidate, canonical: str, spooled: _Spooled,
        uploads: tuple[UploadService, Principal] | None,
    ) -> None:  # fmt: skip
        if candidate.listed_sha256 is not None and not hmac.compare_digest(
            candidate.listed_sha256, spooled.sha256
        ):
            self._emit(
                "refused",
                candidate.location,
                "its bytes do not match the sha256 the"
                " old index recorded (a corrupted object); restore it and run again",
            )
            return
        earlier = self._seen.get(canonical)
        if earlier is not None and earlier[1] != spooled.sha256:
            self._conflict(candidate, canonical, f"other bytes (from {earlier[0]} in this run)")
            return
        if uploads is None:
            self._dry_run_check(candidate, canonical, spooled)
            return
        form = UploadForm(
            fields={":action": "file_upload", "sha256_digest": spooled.sha256},
            filename=candidate.filename, path=spooled.path, size=spooled.size,
            sha256=spooled.sha256, md5=spooled.md5, blake2_256=spooled.blake2_256,
        )  # fmt: skip
        try:
            # As the upload endpoint audits an upload, with where the file came from.
            origin = f"{self.source.description}:{candidate.location}"
            outcome = uploads[0].process(form, uploads[1], actor=self.actor,
                                         detail={"migrated_from": origin})  # fmt: skip
        except UploadError as error:
            if error.http_status == 409:
                self._conflict(candidate, canonical, "other bytes")
            else:
                self._emit("refused", candidate.location, error.message)
            return
        self._seen.setdefault(canonical, (candidate.location, spooled.sha256))
        if outcome.created:
            self._emit("imported", candidate.location,
                       f"{outcome.record.project}/{outcome.record.filename}")  # fmt: skip
        else:
            self._emit("unchanged", candidate.location, f"pubkit has {outcome.record.filename}")

    def _dry_run_check(self, candidate: Candidate, canonical: str, spooled: _Spooled) -> None:
        """The checks an upload runs before it stores anything, and the catalog's answer."""
        try:
            read_core_metadata(spooled.path, parse_distribution_filename(candidate.filename))
        except UploadError as error:
            self._emit("refused", candidate.location, error.message)
            return
        existing = self.catalog.file(candidate.filename)
        if existing is not None and not hmac.compare_digest(existing.sha256, spooled.sha256):
            self._conflict(candidate, canonical, "other bytes")
            return
        first = canonical not in self._seen
        self._seen.setdefault(canonical, (candidate.location, spooled.sha256))
        if existing is not None or not first:
            self._emit("unchanged", candidate.location, f"pubkit has {canonical}")
        else:
            self._emit("would import", candidate.location, canonical)

    def _conflict(self, candidate: Candidate, canonical: str, what: str) -> None:
        self._emit("conflict", candidate.location, f"pubkit has {canonical} with {what}; files"
                   " are immutable, so it is not overwritten: keep one of the two")  # fmt: skip

    def _spool(self, candidate: Candidate) -> _Spooled:
        """The candidate's bytes in a spool file beside the uploads', hashed on the way: the
        old index's file is never linked into storage nor read twice."""
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.spool_dir, prefix="migrate-", suffix=".part")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as raw:
                hashing = _HashingWriter(raw)
                self.source.copy(candidate, hashing.write)
                raw.flush()
                os.fsync(raw.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return _Spooled(path, hashing.size, hashing.sha256.hexdigest(), hashing.md5.hexdigest(),
                        hashing.blake2.hexdigest())  # fmt: skip


def _known_same(candidate: Candidate, existing: FileRecord) -> bool:
    """Whether the source's own record of the bytes (pypicloud's sha256, else S3's MD5 ETag,
    with the size) says they are pubkit's file, without reading them."""
    if candidate.listed_sha256 is not None:
        return hmac.compare_digest(candidate.listed_sha256, existing.sha256)
    return (candidate.md5 is not None and candidate.size == existing.size
            and hmac.compare_digest(candidate.md5, existing.md5))  # fmt: skip


class _HashingWriter:
    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.blake2 = hashlib.blake2b(digest_size=32)

    def write(self, data: bytes) -> int:
        self.size += len(data)
        for digest in (self.sha256, self.md5, self.blake2):
            digest.update(data)
        return self.raw.write(data)


def run_migration(
    migration: Migration, users: Sequence[HtpasswdUser], refused: Sequence[HtpasswdRefusal]
) -> MigrationReport:
    """Users first (the owner may be one of them), then every file of the source."""
    migration.check_owner(users)
    migration.migrate_users(users, refused)
    migration.migrate_files()
    return migration.report
