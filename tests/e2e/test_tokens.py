"""API tokens with the real clients: `pubkit token create` prints a token once; twine and
`uv publish` upload with it as the user __token__; pip installs from a server that requires
authentication to read with a read-only token; revocation stops it; `pubkit audit` shows it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from pubkit.testing import LiveServer, make_wheel
from tests.e2e.support import (
    PASSWORDS,
    LogWindow,
    Venv,
    output,
    pip,
    run,
    twine_upload,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("tokens") / "data",
                      extra_args=("--read", "authenticated"))  # fmt: skip
    for name, password in PASSWORDS.items():
        live.add_user(name, password)
    live.start()
    try:
        yield live
    finally:
        live.stop()


def pubkit(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "pubkit", *args, "--data-dir", str(server.data_dir)])


def create_token(server: LiveServer, *args: str) -> str:
    created = pubkit(server, "token", "create", *args)
    assert created.returncode == 0, output(created)
    token = created.stdout.strip()
    assert token.startswith("pubkit_") and token not in created.stderr
    return token


def test_tokens_with_twine_and_pip(server: LiveServer, venv: Venv, dists: Path) -> None:
    upload_token = create_token(server, "--user", "alice", "--project", "e2e-tokened",
                                "--expires", "30d", "--description", "CI of e2e-tokened")
    wheel = make_wheel(dists, "e2e-tokened", "1.0")
    uploaded = twine_upload(server, [wheel], "__token__", upload_token)
    assert uploaded.returncode == 0, output(uploaded)
    # Its scope is one project.
    other = twine_upload(server, [make_wheel(dists, "e2e-elsewhere", "1.0")], "__token__",
                         upload_token)  # fmt: skip
    assert other.returncode != 0 and "403" in output(other)

    read_token = create_token(server, "--user", "bob", "--read")
    index = server.simple_url.replace("http://", f"http://__token__:{quote(read_token)}@")
    installed = pip("install", "--index-url", index, "e2e-tokened", python=venv.python)
    assert installed.returncode == 0, output(installed)
    assert venv.installed()["e2e-tokened"] == "1.0"
    refused = twine_upload(server, [make_wheel(dists, "e2e-tokened", "1.1")], "__token__",
                           read_token)  # fmt: skip
    assert refused.returncode != 0 and "403" in output(refused)

    listed = pubkit(server, "token", "list", "--json")
    tokens = {t["user"]: t for t in json.loads(listed.stdout)}
    assert tokens["alice"]["projects"] == ["e2e-tokened"] and tokens["alice"]["last_used"]
    assert tokens["bob"]["permission"] == "read"
    assert upload_token not in listed.stdout and read_token not in listed.stdout

    revoked = pubkit(server, "token", "revoke", read_token)
    assert revoked.returncode == 0, output(revoked)
    window = LogWindow(server)
    again = pip("download", "--no-deps", "-d", str(dists / "again"), "--index-url", index,
                "e2e-tokened")  # fmt: skip
    # What pip prints about a 401 depends on its version (23.2 never says "401"); the server's
    # access log says what it answered whatever the client.
    assert again.returncode != 0, output(again)
    refusals = window.statuses("GET", "/simple/e2e-tokened/")
    assert refusals and set(refusals) == {401}, window.describe()
    assert not (dists / "again").exists() or not any((dists / "again").iterdir())

    audit = pubkit(server, "audit", "--json")
    actions = [json.loads(line)["action"] for line in audit.stdout.splitlines()]
    # Newest first: the revoked token's refusal (one row, however often pip tried), the
    # revocation, the second token, the upload, the first token, and the fixture's users.
    assert actions == ["failed sign-in", "revoke token", "create token", "upload",
                       "create token", "add user", "add user"]  # fmt: skip
    assert read_token not in audit.stdout and upload_token not in audit.stdout
