"""Malformed uploads, table-driven: each gets the right 4xx, a clear one-line reason, and
leaves storage, spool and catalog exactly as they were."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from pubkit.testing import core_metadata, make_sdist, make_wheel
from tests.server.conftest import Index, basic, upload_fields

BOUNDARY = "pubkitboundary"


@dataclass
class Case:
    status: int
    message: str
    # Builds the request: returns (filename, bytes, field overrides) or a raw request dict.
    build: Callable[[Path], Any]
    user: str | None = "alice"
    headers: dict[str, str] = field(default_factory=dict)


def _wheel_bytes(tmp: Path, name: str = "victim", version: str = "1.0", **kw: Any) -> bytes:
    return make_wheel(tmp / "w", name, version, **kw).read_bytes()


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def _tar_gz(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _good_dist_info(name: str = "victim", version: str = "1.0",
                    metadata: bytes | None = None) -> dict[str, bytes]:
    prefix = f"{name}-{version}.dist-info"
    return {
        f"{prefix}/METADATA": metadata or core_metadata(name, version).encode(),
        f"{prefix}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{prefix}/RECORD": b"",
    }


def _file(filename: str, data: bytes, **fields: str | None) -> tuple[str, bytes, dict[str, Any]]:
    return filename, data, fields


WHEEL = "victim-1.0-py3-none-any.whl"
SDIST = "victim-1.0.tar.gz"


def _multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = BOUNDARY) -> bytes:
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def _raw(body: bytes, content_type: str = f"multipart/form-data; boundary={BOUNDARY}") -> dict[
    str, Any
]:
    return {"raw": body, "content_type": content_type}


def _form_parts(data: bytes, filename: str = WHEEL) -> list[tuple[str, str | None, bytes]]:
    return [
        (":action", None, b"file_upload"),
        ("protocol_version", None, b"1"),
        ("sha256_digest", None, hashlib.sha256(data).hexdigest().encode()),
        ("content", filename, data),
    ]


def _metadata(**fields: str) -> bytes:
    lines = [f"{key.replace('_', '-')}: {value}" for key, value in fields.items()]
    return ("\n".join(lines) + "\n\n").encode()


def _bomb_wheel() -> bytes:
    huge = b"Metadata-Version: 2.1\nName: victim\nVersion: 1.0\n\n" + b" " * (16 * 1024 * 1024)
    return _zip(_good_dist_info(metadata=huge))


def _bomb_sdist() -> bytes:
    # A tiny gzip stream that inflates to far more than the budget allows.
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        info = tarfile.TarInfo("victim-1.0/zeros")
        info.size = 80 * 1024 * 1024
        archive.addfile(info, io.BytesIO(bytes(info.size)))
    return gzip.compress(raw.getvalue(), 9)


CASES: dict[str, Case] = {
    # -- the filename
    "path traversal": Case(400, "invalid filename", lambda t: _file(
        "../victim-1.0.tar.gz", make_sdist(t, "victim", "1.0").read_bytes())),
    "encoded traversal": Case(400, "invalid filename", lambda t: _file(
        "..%2Fvictim-1.0.tar.gz", make_sdist(t, "victim", "1.0").read_bytes())),
    "absolute path": Case(400, "invalid filename", lambda t: _file(
        "/etc/victim-1.0.tar.gz", make_sdist(t, "victim", "1.0").read_bytes())),
    "backslash": Case(400, "invalid filename", lambda t: _file(
        "..\\victim-1.0.tar.gz", make_sdist(t, "victim", "1.0").read_bytes())),
    "overlong filename": Case(400, "1 to 255 characters", lambda t: _file(
        "v" * 300 + "-1.0.tar.gz", b"x")),
    "zip sdist": Case(400, "unsupported file type", lambda t: _file("victim-1.0.zip", b"PK")),
    "exe": Case(400, "unsupported file type", lambda t: _file("victim-1.0.exe", b"MZ")),
    "egg": Case(400, "unsupported file type", lambda t: _file(
        "victim-1.0-py3.11.egg", _zip({"EGG-INFO/PKG-INFO": b""}))),
    "bz2 sdist": Case(400, "unsupported file type", lambda t: _file("victim-1.0.tar.bz2", b"x")),
    "invalid wheel filename": Case(400, "invalid wheel filename", lambda t: _file(
        "victim-1.0-py3.whl", _wheel_bytes(t))),
    "invalid version in filename": Case(400, "invalid", lambda t: _file(
        "victim-one-py3-none-any.whl", _wheel_bytes(t))),
    # -- filename versus metadata, form versus metadata
    "name disagrees with metadata": Case(400, "metadata inside says 'victim'", lambda t: _file(
        "other-1.0-py3-none-any.whl",
        _zip({k.replace("victim-1.0", "other-1.0"): v for k, v in _good_dist_info().items()}))),
    "version disagrees with metadata": Case(400, "metadata inside says 1.0", lambda t: _file(
        "victim-2.0-py3-none-any.whl", _zip({
            **{k.replace("victim-1.0", "victim-2.0"): v for k, v in _good_dist_info().items()}}))),
    "form name disagrees": Case(400, "the form says name 'other'", lambda t: _file(
        WHEEL, _wheel_bytes(t), name="other")),
    "form version disagrees": Case(400, "the form says version '9.9'", lambda t: _file(
        WHEEL, _wheel_bytes(t), version="9.9")),
    "filetype disagrees": Case(400, "filetype 'sdist' does not match", lambda t: _file(
        WHEEL, _wheel_bytes(t), filetype="sdist")),
    # -- digests
    "bad sha256": Case(400, "sha256_digest does not match", lambda t: _file(
        WHEEL, _wheel_bytes(t), sha256_digest="0" * 64)),
    "bad md5": Case(400, "md5_digest does not match", lambda t: _file(
        WHEEL, _wheel_bytes(t), md5_digest="0" * 32)),
    "bad blake2": Case(400, "blake2_256_digest does not match", lambda t: _file(
        WHEEL, _wheel_bytes(t), blake2_256_digest="0" * 64)),
    "no digest": Case(400, "has no digest", lambda t: _file(
        WHEEL, _wheel_bytes(t), sha256_digest=None, md5_digest=None, blake2_256_digest=None)),
    # -- archives
    "truncated wheel": Case(400, "not a valid zip archive", lambda t: _file(
        WHEEL, _wheel_bytes(t)[:-200])),
    "not a zip": Case(400, "not a valid zip archive", lambda t: _file(WHEEL, b"hello " * 100)),
    "not a gzip": Case(400, "not a valid .tar.gz archive", lambda t: _file(SDIST, b"hi " * 99)),
    "truncated sdist": Case(400, "not a valid .tar.gz archive", lambda t: _file(
        SDIST, make_sdist(t, "victim", "1.0").read_bytes()[:-40])),
    "zip bomb metadata": Case(400, "METADATA file is too large", lambda t: _file(
        WHEEL, _bomb_wheel())),
    "tar bomb": Case(400, "decompression bomb", lambda t: _file(SDIST, _bomb_sdist())),
    "non-utf8 metadata": Case(400, "not valid UTF-8", lambda t: _file(WHEEL, _zip(
        _good_dist_info(metadata=b"Metadata-Version: 2.1\nName: victim\nVersion: 1.0\n"
                        b"Summary: caf\xe9\n\n")))),
    "metadata without name": Case(400, "no Name field", lambda t: _file(WHEEL, _zip(
        _good_dist_info(metadata=_metadata(metadata_version="2.1", version="1.0"))))),
    "metadata without version": Case(400, "no Version field", lambda t: _file(WHEEL, _zip(
        _good_dist_info(metadata=_metadata(metadata_version="2.1", name="victim"))))),
    "metadata without metadata-version": Case(400, "no Metadata-Version", lambda t: _file(
        WHEEL, _zip(_good_dist_info(metadata=_metadata(name="victim", version="1.0"))))),
    "invalid requires-python": Case(400, "Requires-Python", lambda t: _file(WHEEL, _zip(
        _good_dist_info(metadata=_metadata(metadata_version="2.1", name="victim",
                                           version="1.0", requires_python="py3 please"))))),
    "wheel without dist-info": Case(400, "exactly one .dist-info", lambda t: _file(
        WHEEL, _zip({"victim/__init__.py": b""}))),
    "wheel with two dist-infos": Case(400, "exactly one .dist-info", lambda t: _file(
        WHEEL, _zip({**_good_dist_info(), **{k.replace("victim-1.0", "Victim-1.0"): v
                                             for k, v in _good_dist_info().items()}}))),
    "wheel without WHEEL": Case(400, "has no victim-1.0.dist-info/WHEEL", lambda t: _file(
        WHEEL, _zip({k: v for k, v in _good_dist_info().items() if not k.endswith("WHEEL")}))),
    "sdist without PKG-INFO": Case(400, "no NAME-VERSION/PKG-INFO", lambda t: _file(
        SDIST, _tar_gz({"victim-1.0/setup.py": b""}))),
    "sdist with two top dirs": Case(400, "single top-level", lambda t: _file(
        SDIST, _tar_gz({"victim-1.0/PKG-INFO": core_metadata("victim", "1.0").encode(),
                        "evil/x": b""}))),
    "empty file": Case(400, "is empty", lambda t: _file(WHEEL, b"")),
    # -- the form
    "no file": Case(400, "has no file", lambda t: _raw(_multipart(_form_parts(b"x")[:3]))),
    "two files": Case(400, "more than one file", lambda t: _raw(_multipart(
        [*_form_parts(_wheel_bytes(t)), ("content", WHEEL, b"again")]))),
    "file in another field": Case(400, "unexpected file in form field", lambda t: _raw(
        _multipart([("attachment", "x.txt", b"x"), *_form_parts(_wheel_bytes(t))]))),
    "no action": Case(400, "no :action field", lambda t: _file(
        WHEEL, _wheel_bytes(t), **{":action": None})),
    "doc upload action": Case(400, "unsupported :action 'doc_upload'", lambda t: _file(
        WHEEL, _wheel_bytes(t), **{":action": "doc_upload"})),
    "protocol version 2": Case(400, "unsupported protocol_version", lambda t: _file(
        WHEEL, _wheel_bytes(t), protocol_version="2")),
    "json body": Case(415, "multipart/form-data", lambda t: _raw(
        b'{"name": "victim"}', "application/json")),
    "urlencoded body": Case(415, "multipart/form-data", lambda t: _raw(
        b":action=file_upload", "application/x-www-form-urlencoded")),
    "no boundary": Case(400, "has no boundary", lambda t: _raw(
        _multipart(_form_parts(_wheel_bytes(t))), "multipart/form-data")),
    "truncated multipart": Case(400, "before its final multipart boundary", lambda t: _raw(
        _multipart(_form_parts(_wheel_bytes(t)))[:-30])),
    "oversized field": Case(413, "larger than 1048576 bytes", lambda t: _raw(_multipart(
        [("description", None, b"x" * (1024 * 1024 + 10)), *_form_parts(_wheel_bytes(t))]))),
    "non-utf8 field": Case(400, "is not valid UTF-8", lambda t: _raw(_multipart(
        [("name", None, b"vict\xffim"), *_form_parts(_wheel_bytes(t))]))),
    # -- who is asking
    "anonymous": Case(401, "requires credentials", lambda t: _file(WHEEL, _wheel_bytes(t)),
                      user=None),
    "wrong password": Case(401, "invalid username or password", lambda t: _file(
        WHEEL, _wheel_bytes(t)), headers=basic("alice", "not-her-password")),
    "unknown user": Case(401, "invalid username or password", lambda t: _file(
        WHEEL, _wheel_bytes(t)), headers=basic("mallory", "whatever-password")),
    "malformed credentials": Case(401, "malformed Basic credentials", lambda t: _file(
        WHEEL, _wheel_bytes(t)), headers={"Authorization": "Basic ###"}),
    "another user's project": Case(403, "may not upload to project 'owned'", lambda t: _file(
        "owned-2.0-py3-none-any.whl", _wheel_bytes(t, "owned", "2.0")), user="bob"),
    "conflicting re-upload": Case(409, "File already exists", lambda t: _file(
        "owned-1.0-py3-none-any.whl",
        _wheel_bytes(t, "owned", "1.0", modules={"owned/x.py": "X = 2\n"}))),
}


def _snapshot(index: Index) -> tuple[object, ...]:
    root = index.data_dir / "files"
    stored = sorted(
        (str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file()
    ) if root.exists() else []
    spool = index.data_dir / "tmp"
    spooled = sorted(p.name for p in spool.iterdir()) if spool.exists() else []
    catalog = sorted((r.filename, r.sha256) for r in index.catalog.all_files())
    return stored, spooled, catalog, index.catalog.serial(), index.catalog.project("victim")


def _send(index: Index, case: Case, built: Any) -> httpx.Response:
    headers = dict(case.headers)
    if case.user and "Authorization" not in headers:
        headers.update(basic(case.user))
    if isinstance(built, dict):
        headers["Content-Type"] = built["content_type"]
        return index.client.post("/", content=built["raw"], headers=headers)
    filename, data, overrides = built
    # The digests describe the bytes actually sent unless a case overrides them.
    fields: dict[str, str | None] = {
        ":action": "file_upload",
        "protocol_version": "1",
        "sha256_digest": hashlib.sha256(data).hexdigest(),
        "md5_digest": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "blake2_256_digest": hashlib.blake2b(data, digest_size=32).hexdigest(),
        **overrides,
    }
    form = {key: value for key, value in fields.items() if value is not None}
    files = {"content": (filename, data, "application/octet-stream")}
    return index.client.post("/", data=form, files=files, headers=headers)


@pytest.fixture
def seeded(index: Index, tmp_path: Path) -> Index:
    assert index.upload(make_wheel(tmp_path / "seed", "owned", "1.0")).status_code == 200
    return index


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_upload(seeded: Index, tmp_path: Path, name: str) -> None:
    case = CASES[name]
    built = case.build(tmp_path)
    before = _snapshot(seeded)
    response = _send(seeded, case, built)
    assert response.status_code == case.status, response.text
    assert case.message in response.text
    assert response.text.count("\n") == 1  # one line
    if case.status == 401:
        assert response.headers["www-authenticate"].startswith("Basic")
    assert _snapshot(seeded) == before


def test_oversized_file_is_413(data_dir: Path, tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from pubkit.server import admin
    from pubkit.server.app import create_app
    from pubkit.settings import load_server_settings

    app = create_app(load_server_settings({"data_dir": data_dir, "max_upload_size": 4096},
                                          environ={}))
    with TestClient(app) as client:
        admin.add_user(app.state.services.catalog, "alice", "correct-horse-battery")
        wheel = make_wheel(tmp_path, "big", "1.0",
                           extra_files={"big/blob.bin": bytes(range(256)) * 64})
        response = client.post("/", data=upload_fields(wheel), headers=basic("alice"),
                               files={"content": (wheel.name, wheel.read_bytes())})
        assert response.status_code == 413
        assert "larger than this server's limit of 4096 bytes" in response.text
        assert list((data_dir / "tmp").iterdir()) == []
        assert not (data_dir / "files" / "big").exists()


def test_identical_reupload_is_200_and_changes_nothing(seeded: Index, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "seed", "owned", "1.0")  # same bytes as the seed
    before = _snapshot(seeded)
    response = seeded.upload(wheel)
    assert response.status_code == 200
    assert "already present, identical" in response.text
    assert _snapshot(seeded) == before


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 30
