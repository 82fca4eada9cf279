"""Who may upload what, as twine sees it: 401, 403, idempotent re-upload, 409 on conflict."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from pubkit.testing import LiveServer, make_wheel
from tests.e2e.support import (
    LogWindow,
    files_by_name,
    output,
    pip,
    sha256_of,
    twine_upload,
)

pytestmark = pytest.mark.e2e
SERVER_BACKENDS = ("local", "s3-postgres")  # the server core's suite runs on both


def _not_listed(server: LiveServer, project: str) -> bool:
    return requests.get(f"{server.simple_url}{project}/", timeout=10).status_code == 404


def test_anonymous_upload_is_refused_with_401(server: LiveServer, dists: Path) -> None:
    wheel = make_wheel(dists, "e2e-anonymous", "1.0")
    window = LogWindow(server)
    refused = twine_upload(server, [wheel], user=None)
    assert refused.returncode != 0, output(refused)
    assert "401 Unauthorized" in refused.stderr + refused.stdout, output(refused)
    assert window.statuses("POST", "/") == [401], window.describe()
    assert _not_listed(server, "e2e-anonymous")


def test_wrong_password_is_refused_with_401(server: LiveServer, dists: Path) -> None:
    wheel = make_wheel(dists, "e2e-wrong-password", "1.0")
    window = LogWindow(server)
    refused = twine_upload(server, [wheel], "alice", password="not-alices-password")
    assert refused.returncode != 0, output(refused)
    assert "401 Unauthorized" in refused.stderr + refused.stdout, output(refused)
    assert window.statuses("POST", "/") == [401], window.describe()
    assert _not_listed(server, "e2e-wrong-password")


def test_the_401_challenges_for_basic_credentials(server: LiveServer) -> None:
    response = requests.post(server.url, timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="pubkit"')


def test_another_users_project_is_refused_with_403(server: LiveServer, dists: Path) -> None:
    first = make_wheel(dists, "e2e-owned", "1.0")
    uploaded = twine_upload(server, [first], "alice")
    assert uploaded.returncode == 0, output(uploaded)

    intruding = make_wheel(dists, "e2e-owned", "1.1")
    window = LogWindow(server)
    refused = twine_upload(server, [intruding], "bob")
    assert refused.returncode != 0, output(refused)
    assert "403 Forbidden" in refused.stderr + refused.stdout, output(refused)
    assert window.statuses("POST", "/") == [403], window.describe()
    assert set(files_by_name(server, "e2e-owned")) == {first.name}


def test_reupload_identical_succeeds_conflicting_is_409(
    server: LiveServer, dists: Path, tmp_path: Path
) -> None:
    original = make_wheel(dists, "e2e-immutable", "1.0")
    uploaded = twine_upload(server, [original], "alice")
    assert uploaded.returncode == 0, output(uploaded)
    before = files_by_name(server, "e2e-immutable")

    window = LogWindow(server)
    again = twine_upload(server, [original], "alice")
    assert again.returncode == 0, output(again)
    assert window.statuses("POST", "/") == [200], window.describe()
    assert files_by_name(server, "e2e-immutable") == before  # same hash, same upload time

    impostor = make_wheel(
        tmp_path / "impostor", "e2e-immutable", "1.0",
        modules={"e2e_immutable/__init__.py": '__version__ = "1.0"\nEVIL = True\n'},
    )  # fmt: skip
    assert impostor.name == original.name
    assert sha256_of(impostor) != sha256_of(original)
    window = LogWindow(server)
    conflict = twine_upload(server, [impostor], "alice")
    assert conflict.returncode != 0, output(conflict)
    assert "409 Conflict" in conflict.stderr + conflict.stdout, output(conflict)
    assert window.statuses("POST", "/") == [409], window.describe()

    # The index still lists and serves the original bytes, to the listing and to pip.
    assert files_by_name(server, "e2e-immutable") == before
    target = tmp_path / "downloaded"
    downloaded = pip(
        "download", "--index-url", server.simple_url, "--no-deps", "-d", target,
        "e2e-immutable==1.0",
    )  # fmt: skip
    assert downloaded.returncode == 0, output(downloaded)
    (served,) = target.iterdir()
    assert served.name == original.name
    assert sha256_of(served) == sha256_of(original)
