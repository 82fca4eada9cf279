"""Malformed uploads are refused with the right status and a clear message, and leave no trace.

One table: each row sends one bad upload (or a bad request) and states the exact status and a
substring of the one-line answer. Every row also checks that storage, the upload spool and the
catalog are exactly as they were before the request.
"""

from __future__ import annotations

import gzip
import io
import random
import tarfile
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from pubkit.server import archives
from pubkit.server.app import create_app
from pubkit.server.catalog import Catalog
from pubkit.server.layout import FileRecord
from pubkit.settings import load_server_settings
from pubkit.testing import make_sdist, make_wheel
from tests.server.conftest import PASSWORD, Index, basic, upload_fields

BOUNDARY = "pubkit-test-boundary-7MA4YWxkTrZu0gW"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
WHEEL = "demo-1.0-py3-none-any.whl"
SDIST = "demo-1.0.tar.gz"
DIST_INFO = "demo-1.0.dist-info"
MIB = 1024 * 1024


# -- building requests by hand ---------------------------------------------------------------


def multipart_body(
    fields: Sequence[tuple[str, str | bytes]],
    files: Sequence[tuple[str, bytes, bytes]] = (),
    close: bool = True,
) -> bytes:
    """A multipart/form-data body; file names go on the wire byte for byte, unescaped."""
    out = io.BytesIO()
    for name, value in fields:
        out.write(f"--{BOUNDARY}\r\n".encode())
        out.write(f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(value if isinstance(value, bytes) else value.encode())
        out.write(b"\r\n")
    for name, filename, data in files:
        out.write(f"--{BOUNDARY}\r\n".encode())
        out.write(f'Content-Disposition: form-data; name="{name}"; filename="'.encode())
        out.write(filename + b'"\r\n')
        out.write(b"Content-Type: application/octet-stream\r\n\r\n")
        out.write(data + b"\r\n")
    if close:
        out.write(f"--{BOUNDARY}--\r\n".encode())
    return out.getvalue()


@dataclass
class Ctx:
    """What a row's sender gets: the running index and a place for distributions."""

    index: Index
    dist_dir: Path
    monkeypatch: pytest.MonkeyPatch

    def post(
        self,
        body: bytes,
        content_type: str | None = MULTIPART,
        user: str | None = "alice",
        password: str = PASSWORD,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        sent = dict(basic(user, password)) if user else {}
        if content_type is not None:
            sent["Content-Type"] = content_type
        sent.update(headers or {})
        return self.index.client.post("/legacy/", content=body, headers=sent)

    def upload(
        self,
        path: Path,
        filename: str | bytes | None = None,
        user: str | None = "alice",
        password: str = PASSWORD,
        **overrides: str | None,
    ) -> httpx.Response:
        """Upload ``path`` as twine would, with fields overridden (``None`` removes one)."""
        name = filename if filename is not None else path.name
        raw_name = name if isinstance(name, bytes) else name.encode()
        fields = list(upload_fields(path, **overrides).items())
        body = multipart_body(fields, [("content", raw_name, path.read_bytes())])
        return self.post(body, user=user, password=password)


Sender = Callable[[Ctx], httpx.Response]


# -- building distributions by hand ----------------------------------------------------------


def metadata(
    name: str = "demo",
    version: str = "1.0",
    drop: Sequence[str] = (),
    extra: str = "",
) -> bytes:
    headers = {
        "Metadata-Version": "2.1",
        "Name": name,
        "Version": version,
        "Summary": "A test package",
    }
    lines = [f"{key}: {value}" for key, value in headers.items() if key not in drop]
    return ("\n".join(lines) + "\n" + extra + "\n").encode()


def wheel_members(
    meta: bytes | None = None, dist_info: str = DIST_INFO, drop: Sequence[str] = ()
) -> dict[str, bytes]:
    members = {
        "demo/__init__.py": b'__version__ = "1.0"\n',
        f"{dist_info}/METADATA": metadata() if meta is None else meta,
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist_info}/RECORD": b"",
    }
    return {path: data for path, data in members.items() if path.rsplit("/", 1)[-1] not in drop}


def write_zip(
    ctx: Ctx,
    members: Mapping[str, bytes],
    filename: str = WHEEL,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    path = ctx.dist_dir / filename
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = compression
            archive.writestr(info, data)
    return path


def write_tar_gz(ctx: Ctx, members: Mapping[str, bytes], filename: str = SDIST) -> Path:
    path = ctx.dist_dir / filename
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
    return path


def write_bytes(ctx: Ctx, filename: str, data: bytes) -> Path:
    path = ctx.dist_dir / filename
    path.write_bytes(data)
    return path


def sdist_members(top: str = "demo-1.0", pkg_info: bytes | None = None) -> dict[str, bytes]:
    return {
        f"{top}/PKG-INFO": metadata() if pkg_info is None else pkg_info,
        f"{top}/pyproject.toml": b"[project]\nname = 'demo'\nversion = '1.0'\n",
    }


def valid_wheel(ctx: Ctx) -> Path:
    return make_wheel(ctx.dist_dir, "demo", "1.0")


def valid_sdist(ctx: Ctx, name: str = "demo") -> Path:
    return make_sdist(ctx.dist_dir, name, "1.0")


# -- senders for rows that need more than a line ---------------------------------------------


def send_with_filename(filename: str | bytes, project: str = "evil") -> Sender:
    return lambda ctx: ctx.upload(valid_sdist(ctx, project), filename=filename)


def send_wheel_with_metadata(meta: bytes) -> Sender:
    return lambda ctx: ctx.upload(write_zip(ctx, wheel_members(meta)))


def send_truncated_wheel(ctx: Ctx) -> httpx.Response:
    data = valid_wheel(ctx).read_bytes()
    return ctx.upload(write_bytes(ctx, WHEEL, data[: len(data) * 2 // 3]))


def send_corrupted_wheel(ctx: Ctx) -> httpx.Response:
    """A stored (uncompressed) METADATA with one byte flipped: the CRC no longer matches."""
    path = write_zip(ctx, wheel_members(), compression=zipfile.ZIP_STORED)
    data = path.read_bytes()
    at = data.index(b"A test package")
    return ctx.upload(write_bytes(ctx, WHEEL, data[:at] + b"B" + data[at + 1 :]))


def send_encrypted_wheel(ctx: Ctx) -> httpx.Response:
    """A wheel whose members claim to be encrypted (flag bit 0), which zipfile cannot read."""
    data = bytearray(write_zip(ctx, wheel_members()).read_bytes())
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        while at >= 0:
            data[at + flags_at] |= 0x1
            at = data.find(signature, at + 4)
    return ctx.upload(write_bytes(ctx, WHEEL, bytes(data)))


def send_corrupted_deflate_wheel(ctx: Ctx) -> httpx.Response:
    """A deflated METADATA whose compressed bytes are garbage: zlib itself fails."""
    meta = metadata(extra="Description: " + "abcdefgh" * 2000)
    path = write_zip(ctx, wheel_members(meta))
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(f"{DIST_INFO}/METADATA")
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for at in range(start + 5, start + 40):
        data[at] ^= 0xFF
    return ctx.upload(write_bytes(ctx, WHEEL, bytes(data)))


def send_truncated_sdist(ctx: Ctx) -> httpx.Response:
    data = valid_sdist(ctx).read_bytes()
    return ctx.upload(write_bytes(ctx, SDIST, data[: len(data) // 2]))


def send_sdist_without_gzip_trailer(ctx: Ctx) -> httpx.Response:
    """Only the 8-byte gzip trailer is missing: the tar inside still looks complete."""
    data = valid_sdist(ctx).read_bytes()
    return ctx.upload(write_bytes(ctx, SDIST, data[:-8]))


def send_sdist_with_bad_crc(ctx: Ctx) -> httpx.Response:
    """The gzip trailer's CRC-32 does not match the data."""
    data = bytearray(valid_sdist(ctx).read_bytes())
    data[-8] ^= 0xFF
    return ctx.upload(write_bytes(ctx, SDIST, bytes(data)))


def send_wheel_bomb(ctx: Ctx) -> httpx.Response:
    """METADATA of 5 MiB (over the 4 MiB limit) that compresses to a few KiB."""
    huge = metadata() + b"x" * (5 * MIB)
    path = write_zip(ctx, wheel_members(huge))
    assert path.stat().st_size < 64 * 1024
    return ctx.upload(path)


def send_sdist_bomb(ctx: Ctx) -> httpx.Response:
    """A gzip stream expanding to far more than the (lowered) expansion budget."""
    ctx.monkeypatch.setattr(archives, "MIN_EXPANSION_BUDGET", 1 * MIB)
    members = sdist_members()
    members["demo-1.0/zeros.bin"] = bytes(4 * MIB)
    path = write_tar_gz(ctx, members)
    assert archives.MAX_EXPANSION_RATIO * path.stat().st_size < 1 * MIB
    return ctx.upload(path)


def send_sdist_huge_pkg_info(ctx: Ctx) -> httpx.Response:
    huge = metadata() + b"x" * (5 * MIB)
    return ctx.upload(write_tar_gz(ctx, sdist_members(pkg_info=huge)))


def send_empty_file(ctx: Ctx) -> httpx.Response:
    return ctx.upload(write_bytes(ctx, SDIST, b""))


def fields_of(path: Path, **overrides: str | None) -> list[tuple[str, str | bytes]]:
    return list(upload_fields(path, **overrides).items())


def send_without_content(ctx: Ctx) -> httpx.Response:
    return ctx.post(multipart_body(fields_of(valid_wheel(ctx))))


def send_two_files(ctx: Ctx) -> httpx.Response:
    wheel = valid_wheel(ctx)
    other = make_wheel(ctx.dist_dir / "other", "other", "1.0")
    files = [
        ("content", wheel.name.encode(), wheel.read_bytes()),
        ("content", other.name.encode(), other.read_bytes()),
    ]
    return ctx.post(multipart_body(fields_of(wheel), files))


def send_file_in_other_field(ctx: Ctx) -> httpx.Response:
    wheel = valid_wheel(ctx)
    files = [("gpg_signature", b"demo.asc", b"sig"), ("content", WHEEL.encode(), b"")]
    return ctx.post(multipart_body(fields_of(wheel), files))


def send_part_without_name(ctx: Ctx) -> httpx.Response:
    body = (
        f"--{BOUNDARY}\r\nContent-Disposition: attachment\r\n\r\nhello\r\n--{BOUNDARY}--\r\n"
    ).encode()
    return ctx.post(body)


def send_too_many_fields(ctx: Ctx) -> httpx.Response:
    wheel = valid_wheel(ctx)
    fields = fields_of(wheel) + [(f"classifier{i}", "x") for i in range(250)]
    return ctx.post(multipart_body(fields, [("content", WHEEL.encode(), wheel.read_bytes())]))


def send_non_utf8_field(ctx: Ctx) -> httpx.Response:
    wheel = valid_wheel(ctx)
    fields = [*fields_of(wheel), ("summary", b"caf\xe9")]
    return ctx.post(multipart_body(fields, [("content", WHEEL.encode(), wheel.read_bytes())]))


def send_oversized_field(ctx: Ctx) -> httpx.Response:
    wheel = valid_wheel(ctx)
    fields = [*fields_of(wheel), ("description", "x" * (MIB + 1))]
    return ctx.post(multipart_body(fields, [("content", WHEEL.encode(), wheel.read_bytes())]))


def send_oversized_file(ctx: Ctx) -> httpx.Response:
    noise = random.Random(0).randbytes(16 * 1024)  # incompressible, so the wheel stays big
    wheel = make_wheel(ctx.dist_dir, "demo", "1.0", extra_files={"demo/noise.bin": noise})
    return ctx.upload(wheel)


def send_declared_too_large(ctx: Ctx) -> httpx.Response:
    wheel = valid_wheel(ctx)
    body = multipart_body(fields_of(wheel), [("content", WHEEL.encode(), wheel.read_bytes())])
    return ctx.post(body, headers={"Content-Length": str(10**12)})


def send_json(ctx: Ctx) -> httpx.Response:
    return ctx.post(b'{":action": "file_upload", "name": "demo"}', "application/json")


def send_urlencoded(ctx: Ctx) -> httpx.Response:
    body = b":action=file_upload&name=demo&version=1.0"
    return ctx.post(body, "application/x-www-form-urlencoded")


def send_multipart_without_boundary(ctx: Ctx) -> httpx.Response:
    wheel = valid_wheel(ctx)
    body = multipart_body(fields_of(wheel), [("content", WHEEL.encode(), wheel.read_bytes())])
    return ctx.post(body, "multipart/form-data")


def send_truncated_multipart(ctx: Ctx) -> httpx.Response:
    wheel = valid_wheel(ctx)
    files = [("content", WHEEL.encode(), wheel.read_bytes())]
    return ctx.post(multipart_body(fields_of(wheel), files, close=False))


def send_wrong_boundary(ctx: Ctx) -> httpx.Response:
    wheel = valid_wheel(ctx)
    body = multipart_body(fields_of(wheel), [("content", WHEEL.encode(), wheel.read_bytes())])
    return ctx.post(body, "multipart/form-data; boundary=something-else")


def send_malformed_credentials(ctx: Ctx) -> httpx.Response:
    wheel = valid_wheel(ctx)
    body = multipart_body(fields_of(wheel), [("content", WHEEL.encode(), wheel.read_bytes())])
    return ctx.post(body, user=None, headers={"Authorization": "Basic not-base64!"})


def upload_original(ctx: Ctx) -> None:
    response = ctx.upload(valid_wheel(ctx))
    assert response.status_code == 200, response.text


def send_conflicting_reupload(ctx: Ctx) -> httpx.Response:
    other = make_wheel(ctx.dist_dir / "v2", "demo", "1.0", modules={"demo/extra.py": "x = 1\n"})
    assert other.read_bytes() != valid_wheel(ctx).read_bytes()
    return ctx.upload(other)


# -- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    send: Sender
    status: int
    message: str
    # Projects that must not exist afterwards.
    absent: tuple[str, ...] = ("demo",)
    # Done before the snapshot, e.g. a valid upload that the row then conflicts with.
    setup: Callable[[Ctx], None] | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)


def row(case_id: str, send: Sender, status: int, message: str, **extra: Any) -> Any:
    return pytest.param(Case(send, status, message, **extra), id=case_id)


CASES = [
    # Filenames that try to leave the project's directory, or are no filename at all.
    row("traversal-dotdot", send_with_filename("../evil-1.0.tar.gz"), 400, "invalid filename",
        absent=("evil",)),
    row("traversal-percent-encoded", send_with_filename("..%2Fevil-1.0.tar.gz"), 400,
        "invalid filename", absent=("evil",)),
    row("traversal-absolute", send_with_filename("/etc/x-1.0.tar.gz"), 400, "invalid filename",
        absent=("evil", "x")),
    row("traversal-backslash", send_with_filename("..\\evil-1.0.tar.gz"), 400,
        "invalid filename", absent=("evil",)),
    row("filename-nul-byte", send_with_filename(b"evil-1.0.tar.gz\x00.whl"), 400,
        "invalid filename", absent=("evil",)),
    row("filename-too-long", send_with_filename("e" * 300 + "-1.0.tar.gz"), 400,
        "1 to 255 characters", absent=("evil", "e" * 300)),
    row("filename-empty", send_with_filename(""), 400, "invalid filename", absent=("evil",)),
    row("filename-not-utf8", send_with_filename(b"evil-1.0\xff.tar.gz"), 400,
        "filename is not valid UTF-8", absent=("evil",)),
    # Files that are no wheel or sdist.
    row("extension-zip", send_with_filename("demo-1.0.zip", "demo"), 400, "unsupported file type"),
    row("extension-exe", send_with_filename("demo-1.0.exe", "demo"), 400, "unsupported file type"),
    row("extension-egg", send_with_filename("demo-1.0-py3.12.egg", "demo"), 400,
        "unsupported file type"),
    row("extension-tar-bz2", send_with_filename("demo-1.0.tar.bz2", "demo"), 400,
        "unsupported file type"),
    row("invalid-wheel-filename", lambda ctx: ctx.upload(valid_wheel(ctx), "demo-1.0.whl"), 400,
        "invalid wheel filename"),
    row("invalid-sdist-filename", send_with_filename("demo.tar.gz", "demo"), 400,
        "invalid sdist filename"),
    # The filename, the form and the metadata must agree.
    row("metadata-name-differs-from-filename", send_wheel_with_metadata(metadata(name="other")),
        400, "the filename says project 'demo' but the metadata inside says 'other'",
        absent=("demo", "other")),
    row("metadata-version-differs-from-filename",
        send_wheel_with_metadata(metadata(version="2.0")), 400,
        "the filename says version 1.0 but the metadata inside says 2.0"),
    row("form-name-differs-from-metadata", lambda ctx: ctx.upload(valid_wheel(ctx), name="other"),
        400, "the form says name 'other'", absent=("demo", "other")),
    row("form-version-differs-from-metadata",
        lambda ctx: ctx.upload(valid_wheel(ctx), version="2.0"), 400,
        "the form says version '2.0'"),
    row("form-filetype-differs", lambda ctx: ctx.upload(valid_wheel(ctx), filetype="sdist"), 400,
        "filetype 'sdist' does not match"),
    # Digests.
    row("bad-sha256", lambda ctx: ctx.upload(valid_wheel(ctx), sha256_digest="0" * 64), 400,
        "sha256_digest does not match"),
    row("bad-md5", lambda ctx: ctx.upload(valid_wheel(ctx), md5_digest="0" * 32), 400,
        "md5_digest does not match"),
    row("bad-blake2-256",
        lambda ctx: ctx.upload(valid_wheel(ctx), blake2_256_digest="0" * 64), 400,
        "blake2_256_digest does not match"),
    row("no-digest",
        lambda ctx: ctx.upload(valid_wheel(ctx), sha256_digest=None, md5_digest=None,
                               blake2_256_digest=None),
        400, "the upload has no digest"),
    # Archives that are broken or hostile.
    row("wheel-truncated", send_truncated_wheel, 400, "the wheel is not a valid zip archive"),
    row("wheel-bad-crc", send_corrupted_wheel, 400, "the wheel is not a valid zip archive"),
    row("wheel-not-a-zip", lambda ctx: ctx.upload(write_bytes(ctx, WHEEL, b"MZ" + bytes(500))),
        400, "the wheel is not a valid zip archive"),
    row("sdist-not-gzip", lambda ctx: ctx.upload(write_bytes(ctx, SDIST, b"PK\x03\x04" * 100)),
        400, "the sdist is not a valid .tar.gz archive"),
    row("sdist-gzip-not-tar",
        lambda ctx: ctx.upload(write_bytes(ctx, SDIST, gzip.compress(b"no tar here" * 100))),
        400, "the sdist is not a valid .tar.gz archive"),
    row("wheel-corrupt-deflate-stream", send_corrupted_deflate_wheel, 400,
        "the wheel is not a valid zip archive"),
    row("wheel-encrypted-metadata", send_encrypted_wheel, 400, "METADATA file is encrypted"),
    row("sdist-truncated", send_truncated_sdist, 400, "the sdist is not a valid .tar.gz archive"),
    row("sdist-truncated-gzip-trailer", send_sdist_without_gzip_trailer, 400,
        "the sdist is not a valid .tar.gz archive"),
    row("sdist-bad-gzip-crc", send_sdist_with_bad_crc, 400, "CRC check failed"),
    row("wheel-zip-bomb", send_wheel_bomb, 400, "METADATA file is too large"),
    row("sdist-gzip-bomb", send_sdist_bomb, 400, "decompression bomb"),
    row("sdist-huge-pkg-info", send_sdist_huge_pkg_info, 400, "PKG-INFO is too large"),
    # Core metadata that does not follow the specification.
    row("metadata-not-utf8", send_wheel_with_metadata(
        metadata().replace(b"A test package", b"caf\xe9")), 400,
        "core metadata is not valid UTF-8"),
    row("metadata-no-name", send_wheel_with_metadata(metadata(drop=["Name"])), 400,
        "the core metadata has no Name field"),
    row("metadata-no-version", send_wheel_with_metadata(metadata(drop=["Version"])), 400,
        "the core metadata has no Version field"),
    row("metadata-no-metadata-version",
        send_wheel_with_metadata(metadata(drop=["Metadata-Version"])), 400,
        "the core metadata has no Metadata-Version field"),
    row("metadata-invalid-version", send_wheel_with_metadata(metadata(version="1.0-final!x")),
        400, "the core metadata's Version '1.0-final!x' is not a valid PEP 440 version"),
    row("metadata-invalid-requires-python",
        send_wheel_with_metadata(metadata(extra="Requires-Python: >=3.x,<<4")), 400,
        "Requires-Python '>=3.x,<<4' is not a valid version specifier"),
    row("sdist-pkg-info-not-utf8",
        lambda ctx: ctx.upload(write_tar_gz(ctx, sdist_members(pkg_info=metadata() + b"\xff"))),
        400, "core metadata is not valid UTF-8"),
    # Archives laid out wrongly.
    row("wheel-without-dist-info",
        lambda ctx: ctx.upload(write_zip(ctx, {"demo/__init__.py": b""})), 400,
        "exactly one .dist-info directory"),
    row("wheel-two-dist-info-same-project",
        lambda ctx: ctx.upload(write_zip(ctx, {**wheel_members(),
                                               **wheel_members(dist_info="Demo-1.0.dist-info")})),
        400, "exactly one .dist-info directory"),
    row("wheel-two-dist-info-other-project",
        lambda ctx: ctx.upload(write_zip(ctx, {**wheel_members(),
                                               **wheel_members(dist_info="other-2.0.dist-info")})),
        400, "exactly one .dist-info directory", absent=("demo", "other")),
    row("wheel-dist-info-for-other-version",
        lambda ctx: ctx.upload(write_zip(ctx, wheel_members(dist_info="demo-2.0.dist-info"))),
        400, "exactly one .dist-info directory"),
    row("wheel-without-WHEEL",
        lambda ctx: ctx.upload(write_zip(ctx, wheel_members(drop=["WHEEL"]))), 400,
        f"the wheel has no {DIST_INFO}/WHEEL file"),
    row("wheel-without-METADATA",
        lambda ctx: ctx.upload(write_zip(ctx, wheel_members(drop=["METADATA"]))), 400,
        f"the wheel has no {DIST_INFO}/METADATA file"),
    row("sdist-without-pkg-info",
        lambda ctx: ctx.upload(write_tar_gz(ctx, {"demo-1.0/setup.py": b"", "demo-1.0/x": b""})),
        400, "the sdist has no NAME-VERSION/PKG-INFO file"),
    row("sdist-two-top-level-dirs",
        lambda ctx: ctx.upload(write_tar_gz(ctx, {**sdist_members(),
                                                  **sdist_members(top="other-1.0")})),
        400, "is outside the demo-1.0/ directory", absent=("demo", "other")),
    # The form itself.
    row("empty-file", send_empty_file, 400, "the uploaded file is empty"),
    row("missing-content-part", send_without_content, 400, "the upload has no file"),
    row("two-files", send_two_files, 400, "more than one file in the upload",
        absent=("demo", "other")),
    row("file-in-other-field", send_file_in_other_field, 400,
        "unexpected file in form field 'gpg_signature'"),
    row("part-without-name", send_part_without_name, 400, "has no form-data name"),
    row("too-many-fields", send_too_many_fields, 400, "too many form fields"),
    row("field-not-utf8", send_non_utf8_field, 400, "form field 'summary' is not valid UTF-8"),
    row("missing-action", lambda ctx: ctx.upload(valid_wheel(ctx), **{":action": None}), 400,
        "the form has no :action field"),
    row("wrong-action", lambda ctx: ctx.upload(valid_wheel(ctx), **{":action": "doc_upload"}),
        400, "unsupported :action 'doc_upload'"),
    row("wrong-protocol-version", lambda ctx: ctx.upload(valid_wheel(ctx), protocol_version="2"),
        400, "unsupported protocol_version '2'"),
    # The request around the form.
    row("content-type-json", send_json, 415, "uploads must be sent as multipart/form-data"),
    row("content-type-urlencoded", send_urlencoded, 415,
        "uploads must be sent as multipart/form-data"),
    row("multipart-without-boundary", send_multipart_without_boundary, 400,
        "the multipart/form-data content type has no boundary"),
    row("multipart-truncated", send_truncated_multipart, 400,
        "the upload ended before its final multipart boundary"),
    row("multipart-wrong-boundary", send_wrong_boundary, 400, "multipart"),
    # Sizes.
    row("file-too-large", send_oversized_file, 413,
        "the file is larger than this server's limit of 4096 bytes",
        settings={"max_upload_size": 4096}),
    row("declared-content-length-too-large", send_declared_too_large, 413,
        "the upload is larger than this server's limit"),
    row("form-field-too-large", send_oversized_field, 413,
        "form field 'description' is larger than 1048576 bytes"),
    # Conflicts and authorization.
    row("conflicting-reupload", send_conflicting_reupload, 409, f"File already exists: {WHEEL}",
        absent=(), setup=upload_original),
    row("anonymous", lambda ctx: ctx.upload(valid_wheel(ctx), user=None), 401,
        "uploading requires credentials"),
    row("wrong-password", lambda ctx: ctx.upload(valid_wheel(ctx), password="wrong"), 401,
        "invalid username or password"),
    row("malformed-credentials", send_malformed_credentials, 401, "malformed Basic credentials"),
    row("unknown-user", lambda ctx: ctx.upload(valid_wheel(ctx), user="mallory"), 401,
        "invalid username or password"),
    row("other-users-project", lambda ctx: ctx.upload(valid_wheel(ctx), user="bob"), 403,
        "user 'bob' may not upload to project 'demo'", absent=(), setup=upload_original),
    # The positive control: an identical re-upload succeeds and changes nothing.
    row("control-identical-reupload", lambda ctx: ctx.upload(valid_wheel(ctx)), 200,
        f"OK: {WHEEL} already present, identical", absent=(), setup=upload_original),
]


# -- the test --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    files: dict[str, int]
    spool: list[str]
    # Everything else in and next to the data dir (the catalog database aside): a traversal
    # that escaped files/ would show here.
    elsewhere: list[str]
    records: list[FileRecord]
    serial: int


def snapshot(index: Index, dist_dir: Path) -> Snapshot:
    root = index.data_dir / "files"
    files = {
        path.relative_to(root).as_posix(): path.stat().st_size
        for path in (root.rglob("*") if root.exists() else [])
        if path.is_file()
    }
    spool_dir = index.data_dir / "tmp"
    spool = sorted(p.name for p in spool_dir.rglob("*")) if spool_dir.exists() else []
    elsewhere = sorted(
        path.relative_to(index.data_dir.parent).as_posix()
        for path in index.data_dir.parent.rglob("*")
        if not path.is_relative_to(root)
        and not path.is_relative_to(spool_dir)
        and not path.name.startswith("catalog.sqlite3")
        and not path.is_relative_to(dist_dir)
    )
    catalog: Catalog = index.catalog
    records = sorted(catalog.all_files(), key=lambda record: record.filename)
    return Snapshot(files, spool, elsewhere, records, catalog.serial())


@contextmanager
def shared_index(request: pytest.FixtureRequest) -> Iterator[Index]:
    """The conftest's ``index`` fixture, for rows with default settings."""
    index: Index = request.getfixturevalue("index")
    yield index


@contextmanager
def index_with(data_dir: Path, settings: Mapping[str, Any]) -> Iterator[Index]:
    """Like the ``index`` fixture, with settings of the row's own."""
    app = create_app(load_server_settings({"data_dir": data_dir, **settings}, environ={}))
    with TestClient(app) as client:
        index = Index(client, app.state.services, data_dir)
        index.add_user("alice")
        index.add_user("bob")
        index.add_user("root", admin_=True)
        yield index


@pytest.mark.parametrize("case", CASES)
def test_malformed_upload_is_refused_and_leaves_no_trace(
    case: Case, request: pytest.FixtureRequest, data_dir: Path, dist_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened = index_with(data_dir, case.settings) if case.settings else shared_index(request)
    with opened as index:
        ctx = Ctx(index, dist_dir, monkeypatch)
        if case.setup is not None:
            case.setup(ctx)
        before = snapshot(index, dist_dir)
        assert before.spool == []
        if case.setup is not None:
            assert before.records, "the setup upload was not stored"
        assert dist_dir.parent == data_dir.parent

        response = case.send(ctx)

        assert response.status_code == case.status, response.text
        text = response.text
        assert response.headers["content-type"].startswith("text/plain")
        assert text.endswith("\n") and "\n" not in text[:-1], f"not one line: {text!r}"
        assert case.message in text
        assert "Traceback" not in text
        if case.status == 401:
            assert response.headers["WWW-Authenticate"].startswith("Basic ")

        after = snapshot(index, dist_dir)
        assert after.spool == [], "the upload spool was not cleaned up"
        assert after.files == before.files
        assert after.elsewhere == before.elsewhere
        assert after.records == before.records
        assert after.serial == before.serial
        for name in case.absent:
            assert index.catalog.project(name) is None, f"project {name!r} was created"


def test_table_is_large_enough() -> None:
    refusals = [param for param in CASES if param.values[0].status >= 400]
    assert len(refusals) >= 35
    assert len({param.id for param in CASES}) == len(CASES)
