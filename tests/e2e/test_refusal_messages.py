"""twine, without --verbose, shows the server's reason for a refusal: the message is in the
status line's reason phrase (twine prints only that line) as well as in the body."""

from __future__ import annotations

import http.client
import subprocess
from pathlib import Path

import pytest

from pubkit.testing import LiveServer, core_metadata, make_wheel
from tests.e2e.support import output, twine_upload


def shown(result: subprocess.CompletedProcess[str]) -> str:
    """What twine printed, its lines unwrapped (it wraps them at the terminal's width)."""
    return " ".join((result.stdout + result.stderr).split())

pytestmark = pytest.mark.e2e


def test_twine_shows_why_an_upload_is_forbidden(server: LiveServer, dists: Path) -> None:
    owned = twine_upload(server, [make_wheel(dists / "a", "e2e-reasoned", "1.0")], "alice")
    assert owned.returncode == 0, output(owned)
    refused = twine_upload(server, [make_wheel(dists / "b", "e2e-reasoned", "1.1")], "bob")
    assert refused.returncode != 0
    assert "--verbose" not in " ".join(refused.args)
    assert "HTTPError: 403 Forbidden" in shown(refused), output(refused)
    assert "user 'bob' may not upload to project 'e2e-reasoned'; ask one of its owners" in (
        shown(refused)
    ), output(refused)


def test_twine_shows_why_a_file_is_malformed(server: LiveServer, dists: Path) -> None:
    # The file's name says one project, its metadata another.
    wheel = make_wheel(dists, "e2e-misnamed", "1.0", metadata=core_metadata("e2e-other", "1.0"))
    refused = twine_upload(server, [wheel], "alice")
    assert refused.returncode != 0 and "400 Bad Request" in shown(refused), output(refused)
    body = _raw_answer(server, wheel)
    assert body.status == 400
    message = body.text.strip()
    assert "\n" not in message and message in shown(refused), (message, output(refused))
    assert body.reason == message[: len(body.reason)] and len(body.reason) > 20


class _Answer:
    def __init__(self, status: int, reason: str, text: str) -> None:
        self.status, self.reason, self.text = status, reason, text


def _raw_answer(server: LiveServer, wheel: Path) -> _Answer:
    """The same upload as twine's, read with http.client: status, reason phrase and body."""
    import base64
    import hashlib

    data = wheel.read_bytes()
    boundary = "pubkit-e2e"
    fields = {":action": "file_upload", "protocol_version": "1", "name": "e2e-misnamed",
              "version": "1.0", "filetype": "bdist_wheel", "pyversion": "py3",
              "metadata_version": "2.1",
              "sha256_digest": hashlib.sha256(data).hexdigest()}  # fmt: skip
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
             .encode() for name, value in fields.items()]  # fmt: skip
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="content";'
                 f' filename="{wheel.name}"\r\n\r\n'.encode() + data + b"\r\n")  # fmt: skip
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    credentials = base64.b64encode(b"alice:alice-e2e-password").decode()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("POST", "/", body, {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Authorization": f"Basic {credentials}"})  # fmt: skip
        response = connection.getresponse()
        return _Answer(response.status, response.reason, response.read().decode())
    finally:
        connection.close()
