"""The legacy upload API, as twine and ``uv publish`` speak it.

Two halves: :func:`receive_form` streams the multipart body to a temporary file while hashing
it (never holding the file in memory), and :class:`UploadService` checks the distribution,
stores bytes, metadata and sidecar, and only then commits the catalog row.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.version import InvalidVersion, Version
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from pubkit.core.distributions import normalize_name, parse_distribution_filename
from pubkit.errors import (
    InvalidDistributionError,
    UploadError,
)
from pubkit.server import spool
from pubkit.server.archives import read_core_metadata
from pubkit.server.auth.permissions import Permissions
from pubkit.server.auth.policy import Action, Policy
from pubkit.server.auth.tokens import Principal
from pubkit.server.catalog import Catalog
from pubkit.server.catalog.records import audit_note
from pubkit.server.commit import commit, read_committed, restore
from pubkit.server.layout import FileRecord, check_record, utc_now
from pubkit.server.storage import Storage

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

MAX_FIELDS = 200
MAX_FIELD_SIZE = 1024 * 1024  # a long description fits; a file smuggled into a field does not
MAX_FIELDS_TOTAL = 8 * 1024 * 1024
MULTIPART_OVERHEAD = 16 * 1024 * 1024  # room for the form fields around the file


@dataclass
class UploadForm:
    """A parsed upload: the form fields and the file, spooled to ``path`` and hashed."""

    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    path: Path | None = None
    size: int = 0
    sha256: str = ""
    md5: str = ""
    blake2_256: str = ""

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


class _FormCollector:
    """Callbacks for python-multipart's streaming parser."""

    def __init__(self, spool_dir: Path, max_file_size: int) -> None:
        self.form = UploadForm()
        self.spool_dir = spool_dir
        self.max_file_size = max_file_size
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._field_name: str | None = None
        self._field_data = bytearray()
        self._fields_total = 0
        self._file: Any = None
        self._hashes: tuple[Any, Any, Any] | None = None
        self._seen_file = False

    # Header callbacks
    def on_part_begin(self) -> None:
        self._headers = {}
        self._field_name = None
        self._field_data = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = self._header_value = b""

    def on_headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition"))
        if disposition != b"form-data" or b"name" not in options:
            raise UploadError("a multipart part has no form-data name; send a standard form")
        name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            if name != "content":
                raise UploadError(f"unexpected file in form field {name!r}; send it as 'content'")
            if self._seen_file:
                raise UploadError("more than one file in the upload; send one file per request")
            self._seen_file = True
            try:
                self.form.filename = options[b"filename"].decode("utf-8")
            except UnicodeDecodeError:
                raise UploadError("the uploaded filename is not valid UTF-8") from None
            self._open_spool()
        else:
            if len(self.form.fields) >= MAX_FIELDS:
                raise UploadError(f"too many form fields (over {MAX_FIELDS})")
            self._field_name = name

    def _open_spool(self) -> None:
        fd, self.form.path = spool.create(self.spool_dir, "upload", ".part")
        self._file = os.fdopen(fd, "wb")
        self._hashes = (
            hashlib.sha256(),
            hashlib.md5(usedforsecurity=False),
            hashlib.blake2b(digest_size=32),
        )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._file is not None:
            self.form.size += len(chunk)
            if self.form.size > self.max_file_size:
                raise UploadError(
                    f"the file is larger than this server's limit of {self.max_file_size} bytes",
                    413,
                )
            self._file.write(chunk)
            assert self._hashes is not None
            for digest in self._hashes:
                digest.update(chunk)
        elif self._field_name is not None:
            self._fields_total += len(chunk)
            if len(self._field_data) + len(chunk) > MAX_FIELD_SIZE:
                raise UploadError(
                    f"form field {self._field_name!r} is larger than {MAX_FIELD_SIZE} bytes", 413
                )
            if self._fields_total > MAX_FIELDS_TOTAL:
                raise UploadError(f"the form fields exceed {MAX_FIELDS_TOTAL} bytes in total", 413)
            self._field_data += chunk

    def on_part_end(self) -> None:
        if self._file is not None:
            # No fsync here, on the event loop (a second or more on a busy disk, for every
            # request): local storage fsyncs the file before linking it, in a worker thread.
            self._file.close()
            self._file = None
            assert self._hashes is not None
            sha256, md5, blake2 = self._hashes
            self.form.sha256 = sha256.hexdigest()
            self.form.md5 = md5.hexdigest()
            self.form.blake2_256 = blake2.hexdigest()
        elif self._field_name is not None:
            try:
                value = self._field_data.decode("utf-8")
            except UnicodeDecodeError:
                raise UploadError(f"form field {self._field_name!r} is not valid UTF-8") from None
            # Metadata fields such as classifiers repeat; only single-valued ones matter here.
            self.form.fields.setdefault(self._field_name, value)
        self._field_name = None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
        }


def multipart_boundary(content_type: str | None) -> bytes:
    media_type, options = parse_options_header(content_type)
    if media_type != b"multipart/form-data":
        raise UploadError(
            "uploads must be sent as multipart/form-data (the legacy upload API); use twine or"
            " uv publish",
            415,
        )
    boundary = options.get(b"boundary")
    if not boundary:
        raise UploadError("the multipart/form-data content type has no boundary")
    return boundary


async def receive_form(
    chunks: AsyncIterator[bytes], boundary: bytes, spool_dir: Path, max_file_size: int
) -> UploadForm:
    """Parse the streamed body; the caller must ``discard()`` the form when done."""
    collector = _FormCollector(spool_dir, max_file_size)
    parser = MultipartParser(boundary, collector.callbacks())
    try:
        async for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
        if parser.state != MultipartState.END:
            raise UploadError("the upload ended before its final multipart boundary (truncated?)")
        collector.close()
    except BaseException as error:
        # Whatever ended it (a refusal, a full disk, a client gone, a cancellation), no
        # spool file stays behind.
        with contextlib.suppress(OSError):
            collector.close()
        collector.form.discard()
        if isinstance(error, OSError):
            raise spool.write_error(error, spool_dir) from None
        if type(error).__name__ in ("MultipartParseError", "FormParserError", "ValueError"):
            raise UploadError(f"the multipart body is malformed: {error}") from None
        raise
    return collector.form


# -- checking and storing ------------------------------------------------------------------


@dataclass(frozen=True)
class UploadOutcome:
    record: FileRecord
    created: bool  # False when an identical file was already there


def _check_digests(form: UploadForm) -> None:
    sent = {
        "sha256_digest": form.sha256,
        "md5_digest": form.md5,
        "blake2_256_digest": form.blake2_256,
    }
    present = {key: form.fields[key].strip().lower() for key in sent if form.fields.get(key)}
    if not present:
        raise UploadError("the upload has no digest; send sha256_digest (twine and uv publish do)")
    for key, value in present.items():
        if not hmac.compare_digest(value, sent[key]):
            raise UploadError(
                f"{key} does not match the uploaded file; the file was corrupted in transit,"
                " upload it again"
            )


def _check_form(form: UploadForm) -> None:
    action = form.fields.get(":action")
    if action != "file_upload":
        raise UploadError(
            f"unsupported :action {action!r}; only file_upload is supported"
            if action
            else "the form has no :action field; send :action=file_upload"
        )
    protocol = form.fields.get("protocol_version", "1")
    if protocol != "1":
        raise UploadError(f"unsupported protocol_version {protocol!r}; expected 1")
    if form.path is None or form.filename is None:
        raise UploadError("the upload has no file; send it in the 'content' part")
    if form.size == 0:
        raise UploadError("the uploaded file is empty")


class UploadService:
    def __init__(
        self, storage: Storage, catalog: Catalog, spool_dir: Path,
        permissions: Permissions | None = None,
    ) -> None:  # fmt: skip
        self.storage = storage
        self.catalog = catalog
        self.spool_dir = spool_dir
        self.permissions = permissions or Permissions(catalog, Policy())

    def process(
        self, form: UploadForm, principal: Principal, address: str | None = None, *,
        actor: str | None = None, detail: dict[str, Any] | None = None,
    ) -> UploadOutcome:  # fmt: skip
        """Check, authorize and store one upload; blocking, so run it in a worker thread.
        The audit row (``actor``, default the principal's; ``address``; ``detail`` beside the
        sha256) is written with the catalog row, in its transaction, or not at all."""
        _check_form(form)
        assert form.path is not None and form.filename is not None
        parsed = parse_distribution_filename(form.filename)
        _check_digests(form)
        declared = form.fields.get("filetype")
        if declared and declared != parsed.packagetype:
            raise UploadError(
                f"filetype {declared!r} does not match the file {parsed.filename!r}"
                f" ({parsed.packagetype})"
            )
        # The filename names the project: whoever may not upload there is refused before
        # the archive is opened.
        self.permissions.check(principal, Action.UPLOAD, parsed.project, cached=False)
        metadata = read_core_metadata(form.path, parsed)
        self._check_declared_name_and_version(form, metadata.name, metadata.version)
        record = FileRecord(
            project=parsed.project,
            display_name=metadata.name,
            version=metadata.version,
            filename=parsed.filename,
            packagetype=parsed.packagetype,
            size=form.size,
            sha256=form.sha256,
            md5=form.md5,
            blake2_256=form.blake2_256,
            requires_python=metadata.requires_python,
            metadata_sha256=hashlib.sha256(metadata.raw).hexdigest(),
            upload_time=utc_now(),
            uploader=principal.name,
        )
        check_record(record)  # before anything is stored: both catalogs can hold it
        # May this principal upload here at all? (Before any answer says what exists.)
        self.permissions.check(principal, Action.UPLOAD, parsed.project, cached=False)
        # The sidecar decides whose filename this is; a listed row without one too. A
        # different file is refused before anything is stored or claimed.
        row = self.catalog.file(parsed.filename)
        existing = read_committed(self.storage, record.project, record.filename) or row
        if existing is not None and not hmac.compare_digest(existing.sha256, form.sha256):
            raise self._conflict(existing.filename)
        self.authorize(parsed.project, metadata.name, principal)
        if existing is not None:
            # Identical: put back whatever storage lost (hashing the stored bytes when this
            # lists the file again), and the row if it is missing.
            restore(self.storage, existing, form.path, metadata.raw, self.spool_dir,
                    check_bytes=row is None)  # fmt: skip
            if row is None:
                row = self.catalog.add_file(existing, None, metadata.summary, metadata.requires)
            return UploadOutcome(row, created=False)
        committed, created = commit(self.storage, record, form.path, metadata.raw,
                                    self.spool_dir)  # fmt: skip
        if not hmac.compare_digest(committed.sha256, form.sha256):
            raise self._conflict(parsed.filename)
        # The audit row is written with the catalog row, in its transaction, or not at all.
        audit = audit_note("upload", committed.filename, actor or principal.actor, address,
                           sha256=committed.sha256, **(detail or {}))  # fmt: skip
        row = self.catalog.add_file(committed, audit, metadata.summary, metadata.requires)
        if row.sha256 != committed.sha256:
            raise self._conflict(parsed.filename)
        return UploadOutcome(row, created=created)

    @staticmethod
    def _check_declared_name_and_version(form: UploadForm, name: str, version: str) -> None:
        declared_name = form.fields.get("name")
        if declared_name is not None and normalize_name(declared_name) != normalize_name(name):
            raise InvalidDistributionError(
                f"the form says name {declared_name!r} but the file's metadata says {name!r}"
            )
        declared_version = form.fields.get("version")
        if declared_version is not None:
            try:
                same = Version(declared_version) == Version(version)
            except InvalidVersion:
                same = False
            if not same:
                raise InvalidDistributionError(
                    f"the form says version {declared_version!r} but the file's metadata says"
                    f" {version!r}"
                )

    def authorize(self, project: str, display_name: str, principal: Principal) -> None:
        """Refuse what the policy refuses; a new name becomes the uploader's project."""
        self.permissions.check(principal, Action.UPLOAD, project, cached=False)
        if self.catalog.project(project) is None and not self.catalog.claim_project(
            project, display_name, principal.user
        ):
            # Someone created it between our check and our claim: it is theirs, unless we
            # hold a role there.
            self.permissions.check(principal, Action.UPLOAD, project, cached=False)

    @staticmethod
    def _conflict(filename: str) -> UploadError:
        return UploadError(
            f"File already exists: {filename} is on the index with different content; files are"
            " immutable, so release a new version",
            409,
        )
