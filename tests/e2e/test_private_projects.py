"""Private projects and groups with the real clients: a project made private disappears for
anonymous pip and uv (401, so that they ask for credentials) and for signed-in users without a
role (404, as if it did not exist); its readers install it; a member of a group that maintains
it uploads with twine."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from pubkit.testing import LiveServer, make_wheel
from tests.e2e.support import LogWindow, Venv, output, pip, run, twine_upload

pytestmark = pytest.mark.e2e

PASSWORDS = {"olga": "olga-e2e-password", "rita": "rita-e2e-password",
             "gus": "gus-e2e-password", "mo": "mo-e2e-password"}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("private") / "data")
    for name, password in PASSWORDS.items():
        live.add_user(name, password)
    live.start()
    try:
        yield live
    finally:
        live.stop()


def pubkit(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    done = run([sys.executable, "-m", "pubkit", *args, "--data-dir", str(server.data_dir)])
    assert done.returncode == 0, output(done)
    return done


def index_as(server: LiveServer, user: str) -> str:
    credentials = f"{user}:{quote(PASSWORDS[user])}@"
    return server.simple_url.replace("http://", "http://" + credentials)


def test_a_private_project_with_pip_uv_and_twine(
    server: LiveServer, venv: Venv, dists: Path
) -> None:
    first = twine_upload(server, [make_wheel(dists, "e2e-secret", "1.0")], "olga",
                         PASSWORDS["olga"])  # fmt: skip
    assert first.returncode == 0, output(first)
    pubkit(server, "project", "private", "e2e-secret")
    pubkit(server, "role", "grant", "e2e-secret", "rita", "reader")
    pubkit(server, "group", "add", "platform")
    pubkit(server, "group", "add-member", "platform", "gus")
    pubkit(server, "role", "grant", "e2e-secret", "@platform", "maintainer")

    # pip reports neither answer, only that it found nothing: the server's log tells them apart.
    window = LogWindow(server)
    anonymous = pip("download", "--no-deps", "-d", str(dists / "anon"), "--index-url",
                    server.simple_url, "e2e-secret")  # fmt: skip
    assert anonymous.returncode != 0
    assert "No matching distribution found for e2e-secret" in output(anonymous)
    assert window.statuses("GET", "/simple/e2e-secret/") == [401], window.describe()
    window = LogWindow(server)
    stranger = pip("download", "--no-deps", "-d", str(dists / "mo"), "--index-url",
                   index_as(server, "mo"), "e2e-secret")  # fmt: skip
    assert stranger.returncode != 0
    assert "No matching distribution found for e2e-secret" in output(stranger)
    assert window.statuses("GET", "/simple/e2e-secret/") == [404], window.describe()
    listing = requests.get(server.simple_url, timeout=10, headers={"Accept": "text/html"})
    assert listing.status_code == 200 and "e2e-secret" not in listing.text

    upload = twine_upload(server, [make_wheel(dists, "e2e-secret", "1.1")], "gus",
                          PASSWORDS["gus"])  # fmt: skip
    assert upload.returncode == 0, output(upload)
    # Beside the audit table, each change is a JSON line in the server's output.
    audit = [json.loads(line) for line in server.log().splitlines()
             if line.startswith('{"audit"')]  # fmt: skip
    uploads = [line for line in audit if line["audit"] == "upload"]
    assert uploads[-1]["actor"] == "gus" and uploads[-1]["address"] == "127.0.0.1"
    assert uploads[-1]["target"] == "e2e_secret-1.1-py3-none-any.whl"

    installed = pip("install", "--index-url", index_as(server, "rita"), "e2e-secret",
                    python=venv.python)  # fmt: skip
    assert installed.returncode == 0, output(installed)
    assert venv.installed()["e2e-secret"] == "1.1"
    uv = run([sys.executable, "-m", "uv", "pip", "install", "--python", venv.python,
              "--default-index", index_as(server, "rita"), "--no-cache", "--reinstall",
              "e2e-secret==1.0"])  # fmt: skip
    assert uv.returncode == 0, output(uv)
    assert venv.installed()["e2e-secret"] == "1.0"

    pubkit(server, "project", "public", "e2e-secret")
    public = pip("download", "--no-deps", "-d", str(dists / "public"), "--index-url",
                 server.simple_url, "e2e-secret==1.1")  # fmt: skip
    assert public.returncode == 0, output(public)
