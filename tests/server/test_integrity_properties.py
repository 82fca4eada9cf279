"""Property-based: random sequences of uploads (identical and conflicting), yanks, deletions
behind the server's back, crashes between storage writes, rebuilds (also while an upload
commits) and verify --repair, on local storage + SQLite and on S3 (moto) + PostgreSQL.

Every 200 answer is listed at once; every refused upload wrote nothing to storage and left
the catalog as it was. After each step (local) or the sequence (S3), unless storage was
damaged behind the server's back since the last rebuild or repair: every listed file's
bytes, metadata and sidecar are the ones its row advertises. Then re-uploading the
identical file that each sidecar names and one ``verify --repair --force`` leave nothing
for ``verify --deep`` to find, and every file whose upload was answered 200 (and whose
sidecar was not deleted behind the server's back) is listed with the hash it was accepted
with.

Uploads call UploadService directly (the HTTP layer adds nothing to these invariants and
costs a thread hop per request); the storage reads are the ones the download path makes.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from pubkit.errors import NotFoundError, PubkitError
from pubkit.server.admin import Admin, add_user, rebuild_catalog
from pubkit.server.auth.tokens import Principal
from pubkit.server.catalog import Catalog, open_catalog, schema
from pubkit.server.layout import FileRecord, file_key, metadata_key, sidecar_key
from pubkit.server.storage import LocalStorage, Storage, StoredObject, open_storage
from pubkit.server.storage.s3 import S3Storage
from pubkit.server.upload import UploadForm, UploadService
from pubkit.server.verify import verify
from pubkit.testing import core_metadata, make_sdist, make_wheel
from tests.conftest import postgres_database

# (project, version, kind); each in two variants with different bytes.
# Few of them, so that sequences often come back to the same filename.
DISTRIBUTIONS = [("demo", "1.0", "wheel"), ("demo", "1.0", "sdist"), ("other", "2.0", "wheel")]
# Derandomized: the same sequences on every run, so CI is deterministic.
PROFILE = settings(derandomize=True, database=None, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


class SimulatedCrash(Exception):
    """The process dies here (kill -9): no cleanup of any kind runs."""


class FaultyStorage:
    """A storage that dies after N more writes when armed, and can run an action once its
    next listing has been read (an upload committing while a rebuild runs)."""

    def __init__(self, storage: Storage) -> None:
        self.inner = storage
        self.writes = 0  # write calls so far
        self.writes_left: int | None = None
        self.after_listing: Callable[[], None] | None = None

    def _write(self) -> None:
        self.writes += 1
        if self.writes_left is not None:
            if self.writes_left == 0:
                self.writes_left = None
                raise SimulatedCrash("killed between storage writes")
            self.writes_left -= 1

    def put_new(self, key: str, source: Path) -> bool:
        self._write()
        return self.inner.put_new(key, source)

    def replace(self, key: str, source: Path) -> None:
        self._write()
        self.inner.replace(key, source)

    def put_bytes(self, key: str, data: bytes) -> None:
        self._write()
        self.inner.put_bytes(key, data)

    def delete(self, key: str) -> None:
        self._write()
        self.inner.delete(key)

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        listed = list(self.inner.list(prefix))
        action, self.after_listing = self.after_listing, None
        if action is not None:
            action()
        return iter(listed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class Backend:
    """One engine pair: a fresh storage per sequence, one catalog emptied between them."""

    catalog: Catalog
    new_storage: Callable[[], Storage]
    work: Path
    dists: dict[tuple[int, int], Path] = field(default_factory=dict)
    # S3 (moto) and PostgreSQL cost ~10x more per step: fewer, shorter sequences there.
    examples: int = 40
    max_steps: int = 12
    check_every_step: bool = True


def _reset(catalog: Catalog) -> None:
    with catalog.engine.begin() as conn:
        for table in (schema.files, schema.group_roles, schema.roles, schema.projects,
                      schema.audit):  # fmt: skip
            conn.execute(delete(table))


def _build_distributions(directory: Path) -> dict[tuple[int, int], Path]:
    built = {}
    for number, (project, version, kind) in enumerate(DISTRIBUTIONS):
        for variant in (0, 1):
            where = directory / f"d{number}v{variant}"
            requires = ("extra-dependency",) if variant else ()
            if kind == "wheel":
                built[number, variant] = make_wheel(where, project, version, requires=requires)
            else:
                metadata = core_metadata(project, version, requires)
                built[number, variant] = make_sdist(where, project, version, metadata=metadata)
    return built


@pytest.fixture(scope="module", params=["local-sqlite", "s3-postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            ) -> Iterator[Backend]:  # fmt: skip
    work = tmp_path_factory.mktemp("properties")
    dists = _build_distributions(work / "dists")
    if request.param == "local-sqlite":
        catalog = open_catalog(f"sqlite:///{work / 'catalog.sqlite3'}")
        counter = itertools.count()
        add_user(catalog, "alice", "correct-horse-battery")
        yield Backend(catalog, lambda: LocalStorage(work / f"files{next(counter)}"), work, dists)
        catalog.close()
        return
    import boto3

    request.getfixturevalue("moto_s3")
    bucket = f"properties-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    with postgres_database() as url:
        catalog = open_catalog(url)
        add_user(catalog, "alice", "correct-horse-battery")

        shared = open_storage(f"s3://{bucket}/?addressing=path")
        assert isinstance(shared, S3Storage)

        def new_storage() -> Storage:  # one boto3 client for all: creating one costs ~0.1 s
            return S3Storage(bucket, uuid.uuid4().hex[:8], shared.client)

        yield Backend(catalog, new_storage, work, dists, examples=25, max_steps=6,
                      check_every_step=False)  # fmt: skip
        catalog.close()


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pubkit.server.auth.passwords.LOG2_N", 10)


# -- steps ---------------------------------------------------------------------------------

# The first two twice as often as the third.
DIST = st.sampled_from([0, 0, 1, 1, 2])
VARIANT = st.integers(0, 1)
STEPS = st.one_of(
    st.tuples(st.just("upload"), DIST, VARIANT),
    st.tuples(st.just("upload"), DIST, VARIANT),  # uploads and crashes twice as likely
    st.tuples(st.just("crash"), DIST, VARIANT, st.integers(0, 4)),
    st.tuples(st.just("crash"), DIST, VARIANT, st.integers(0, 4)),
    st.tuples(st.just("delete"), DIST, st.sampled_from(["bytes", "metadata", "sidecar"])),
    st.tuples(st.just("yank"), DIST),
    st.tuples(st.just("rebuild")),
    st.tuples(st.just("rebuild-while-uploading"), DIST, VARIANT),
    st.tuples(st.just("verify")),
)


class Run:
    """One sequence against one fresh storage, with what the answers promised."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.catalog = backend.catalog
        self.raw = backend.new_storage()
        self.storage = FaultyStorage(self.raw)
        self.spool = backend.work / f"spool-{uuid.uuid4().hex[:8]}"
        self.uploads = UploadService(self.storage, self.catalog, self.spool)
        user = self.catalog.user("alice")
        assert user is not None
        self.principal = Principal(user)
        self.accepted: dict[str, str] = {}  # canonical key -> sha256 answered 200
        self.forgotten: set[str] = set()  # keys whose sidecar was deleted behind our back
        self.damaged = False  # storage changed behind the server since the last repair

    def key(self, number: int) -> str:
        path = self.backend.dists[number, 0]
        project = DISTRIBUTIONS[number][0]
        return file_key(project, path.name)

    def upload(self, number: int, variant: int) -> int:
        path = self.backend.dists[number, variant]
        self.spool.mkdir(parents=True, exist_ok=True)
        spooled = self.spool / f"upload-{uuid.uuid4().hex}.part"
        shutil.copyfile(path, spooled)
        data = path.read_bytes()
        form = UploadForm(
            fields={":action": "file_upload", "protocol_version": "1",
                    "sha256_digest": hashlib.sha256(data).hexdigest()},
            filename=path.name, path=spooled, size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
            blake2_256=hashlib.blake2b(data, digest_size=32).hexdigest(),
        )  # fmt: skip
        writes, before = self.storage.writes, self.catalog_state()
        try:
            outcome = self.uploads.process(form, self.principal)
        except PubkitError as error:
            assert error.http_status == 409, error
            # Not one write reached storage, and the catalog is as it was.
            assert self.storage.writes == writes, "a refused upload wrote to storage"
            assert self.catalog_state() == before, "a refused upload changed the catalog"
            return 409
        finally:
            form.discard()
        key = self.key(number)
        assert outcome.record.sha256 == form.sha256
        listed = self.catalog.file(path.name)
        assert listed is not None and listed.sha256 == form.sha256, "a 200 upload is not listed"
        self.accepted[key] = form.sha256
        self.forgotten.discard(key)
        return 200

    def catalog_state(self) -> tuple[list[FileRecord], list[Any], int]:
        files = sorted(self.catalog.all_files(), key=lambda r: r.filename)
        return files, self.catalog.projects(), self.catalog.serial()

    def step(self, step: tuple[Any, ...]) -> None:
        kind = step[0]
        if kind == "upload":
            self.upload(step[1], step[2])
        elif kind == "crash":
            self.storage.writes_left = step[3]
            try:
                self.upload(step[1], step[2])
            except SimulatedCrash:
                pass
            finally:
                self.storage.writes_left = None
        elif kind == "delete":
            key = self.key(step[1])
            project, _, filename = key.partition("/")
            target = {"bytes": file_key, "metadata": metadata_key,
                      "sidecar": sidecar_key}[step[2]](project, filename)  # fmt: skip
            if self.raw.size(target) is not None:
                self.raw.delete(target)
                self.damaged = True
                if step[2] == "sidecar":
                    self.forgotten.add(key)
        elif kind == "yank":
            project, version, _ = DISTRIBUTIONS[step[1]]
            admin = Admin(self.catalog, lambda: self.raw, "root")
            with contextlib.suppress(NotFoundError):
                admin.yank(project, version, "bad build")
        elif kind == "rebuild":
            rebuild_catalog(self.raw, self.catalog)
            self.damaged = False
        elif kind == "rebuild-while-uploading":
            self.storage.after_listing = lambda: self.upload_quietly(step[1], step[2])
            rebuild_catalog(self.storage, self.catalog)
            self.damaged = False
        elif kind == "verify":
            verify(self.raw, self.catalog, repair=True, force=True, grace=timedelta(0))
            self.damaged = False

    def upload_quietly(self, number: int, variant: int) -> None:
        self.storage.after_listing = None
        self.upload(number, variant)

    def check_listed_files_are_intact(self) -> None:
        for row in self.catalog.all_files():
            data = self.raw.read_bytes(file_key(row.project, row.filename))
            assert hashlib.sha256(data).hexdigest() == row.sha256, row.filename
            meta = self.raw.read_bytes(metadata_key(row.project, row.filename))
            assert hashlib.sha256(meta).hexdigest() == row.metadata_sha256, row.filename
            sidecar = FileRecord.from_sidecar(
                self.raw.read_bytes(sidecar_key(row.project, row.filename)))
            assert replace(row, display_name=sidecar.display_name) == sidecar, row.filename

    def heal_and_check(self) -> None:
        """Re-upload the identical file each sidecar names, repair once: nothing remains."""
        for number, variant in self.backend.dists:
            project, _, filename = self.key(number).partition("/")
            try:
                committed = FileRecord.from_sidecar(
                    self.raw.read_bytes(sidecar_key(project, filename)))
            except NotFoundError:
                continue
            data = self.backend.dists[number, variant].read_bytes()
            if hashlib.sha256(data).hexdigest() == committed.sha256:
                assert self.upload(number, variant) == 200
        verify(self.raw, self.catalog, repair=True, force=True, grace=timedelta(0))
        deep = self.backend.check_every_step  # hashing everything again costs S3 requests
        remaining = verify(self.raw, self.catalog, deep=deep, grace=timedelta(0)).problems
        assert remaining == [], [finding.line() for finding in remaining]
        self.check_listed_files_are_intact()
        listed = {file_key(r.project, r.filename): r.sha256 for r in self.catalog.all_files()}
        for key, sha256 in self.accepted.items():
            if key not in self.forgotten:
                assert listed.get(key) == sha256, f"{key} was accepted but is not listed"


def test_storage_and_catalog_agree_whatever_happens(backend: Backend) -> None:
    @settings(PROFILE, max_examples=backend.examples)
    @given(steps=st.lists(STEPS, min_size=1, max_size=backend.max_steps))
    # The findings' own sequences, always tried first:
    @example(steps=[("crash", 0, 0, 1), ("upload", 0, 1)])  # 9: an orphan, then another file
    @example(steps=[("upload", 0, 0), ("delete", 0, "bytes"), ("rebuild",), ("upload", 0, 1),
                    ("upload", 0, 0)])  # 1: a refused upload, then the identical one
    @example(steps=[("crash", 0, 0, 1), ("crash", 0, 1, 2), ("rebuild",),
                    ("upload", 0, 1)])  # a commit whose bytes were still staged
    @example(steps=[("upload", 0, 0), ("delete", 0, "sidecar"), ("rebuild",),
                    ("upload", 0, 1)])  # a commit record lost behind the server's back
    @example(steps=[("crash", 0, 0, 1), ("rebuild-while-uploading", 0, 1),
                    ("verify",)])  # 3: an upload commits while a rebuild runs  # fmt: skip
    def sequence(steps: list[tuple[Any, ...]]) -> None:
        _reset(backend.catalog)
        run = Run(backend)
        for step in steps:
            run.step(step)
            if backend.check_every_step and not run.damaged:
                run.check_listed_files_are_intact()
        if not run.damaged:
            run.check_listed_files_are_intact()
        run.heal_and_check()

    sequence()
