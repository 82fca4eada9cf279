"""pip, uv and twine against a live pubkit, unmodified, in throwaway virtualenvs."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from pubkit.testing import LiveServer, make_sdist, make_wheel
from tests.e2e.clients import (
    PASSWORDS,
    Venv,
    access_log,
    client_server,
    fresh_venv,
    run,
    twine_upload,
)

pytestmark = pytest.mark.e2e

__all__ = ["client_server", "fresh_venv"]  # fixtures used by the tests below


@pytest.fixture(scope="module")
def server(client_server: LiveServer) -> LiveServer:
    return client_server


def _requests_for(server: LiveServer, path_part: str) -> list[dict[str, object]]:
    entries = [json.loads(line) for line in access_log(server)]
    return [entry for entry in entries if path_part in str(entry["path"])]


def test_twine_upload_then_pip_install(server: LiveServer, tmp_path: Path,
                                       fresh_venv: Venv) -> None:
    dist = tmp_path / "dist"
    files = [
        make_wheel(dist, "Acme-Core", "1.2.0"),
        make_sdist(dist, "Acme-Core", "1.2.0"),
        make_wheel(dist, "acme-text", "0.3.0", requires=["acme-core>=1.2"]),
    ]
    result = twine_upload(server, *files)
    assert (result.stdout + result.stderr).count("200 OK") == 3
    fresh_venv.pip_install(server.simple_url, "acme-text")
    # These names exist on no other index: the versions prove where they came from.
    assert fresh_venv.version_of("acme_text") == "0.3.0"
    assert fresh_venv.version_of("acme_core") == "1.2.0"
    served = {str(e["path"]).rsplit("/", 1)[-1] for e in _requests_for(server, "/files/")}
    assert {"acme_core-1.2.0-py3-none-any.whl", "acme_text-0.3.0-py3-none-any.whl"} <= served
    # pip took the dependencies from the PEP 658 metadata, not by downloading to look.
    assert "acme_text-0.3.0-py3-none-any.whl.metadata" in served


def test_uv_publish_then_uv_pip_install(server: LiveServer, tmp_path: Path,
                                        fresh_venv: Venv) -> None:
    dist = tmp_path / "dist"
    wheel = make_wheel(dist, "uv-made", "2.0.1")
    make_sdist(dist, "uv-made", "2.0.1")
    result = run(sys.executable, "-m", "uv", "publish", "--publish-url", server.url,
                 "--username", "alice", "--password", PASSWORDS["alice"], *sorted(dist.iterdir()))
    assert "Uploading" in result.stderr + result.stdout
    fresh_venv.uv_install(server.simple_url, "uv-made")
    assert fresh_venv.version_of("uv_made") == "2.0.1"
    assert _requests_for(server, f"/files/uv-made/{wheel.name}")


def test_pip_download_with_require_hashes(server: LiveServer, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "dist", "hashed", "1.0")
    twine_upload(server, wheel)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    good = tmp_path / "good.txt"
    good.write_text(f"hashed==1.0 --hash=sha256:{digest}\n")
    target = tmp_path / "downloads"
    run(sys.executable, "-m", "pip", "download", "--isolated", "--require-hashes", "--no-deps",
        "--index-url", server.simple_url, "-d", target, "-r", good)
    assert (target / wheel.name).read_bytes() == wheel.read_bytes()
    bad = tmp_path / "bad.txt"
    bad.write_text(f"hashed==1.0 --hash=sha256:{'0' * 64}\n")
    failed = run(sys.executable, "-m", "pip", "download", "--isolated", "--require-hashes",
                 "--no-deps", "--index-url", server.simple_url, "-d", tmp_path / "other",
                 "-r", bad, check=False)
    assert failed.returncode != 0
    assert "DO NOT MATCH THE HASHES" in failed.stdout + failed.stderr


def test_yanked_release_is_skipped_unless_pinned(server: LiveServer, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    twine_upload(server, make_wheel(dist, "yanky", "1.0"), make_wheel(dist, "yanky", "2.0"))
    run(sys.executable, "-m", "pubkit", "yank", "yanky", "2.0", "--reason", "broken build",
        "--data-dir", server.data_dir)
    latest = Venv(tmp_path / "latest")
    latest.pip_install(server.simple_url, "yanky")
    assert latest.version_of("yanky") == "1.0"
    pinned = Venv(tmp_path / "pinned")
    result = pinned.pip_install(server.simple_url, "yanky==2.0")
    assert pinned.version_of("yanky") == "2.0"
    assert "broken build" in result.stdout + result.stderr  # pip warns with the reason
    with_uv = Venv(tmp_path / "uv")
    with_uv.uv_install(server.simple_url, "yanky")
    assert with_uv.version_of("yanky") == "1.0"


def test_anonymous_upload_is_refused_with_401(server: LiveServer, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "nobody-home", "1.0")
    result = twine_upload(server, wheel, user=None, check=False)
    assert result.returncode != 0
    assert "401" in result.stdout + result.stderr
    assert _requests_for(server, "/")[-1]["status"] == 401
    assert requests.get(server.simple_url + "nobody-home/", timeout=5).status_code == 404


def test_other_users_project_is_refused_with_403(server: LiveServer, tmp_path: Path) -> None:
    twine_upload(server, make_wheel(tmp_path / "a", "alices-tool", "1.0"), user="alice")
    result = twine_upload(server, make_wheel(tmp_path / "b", "alices-tool", "1.1"), user="bob",
                          check=False)
    assert result.returncode != 0
    assert "403" in result.stdout + result.stderr
    assert "may not upload to project 'alices-tool'" in result.stdout + result.stderr
    versions = requests.get(server.simple_url + "alices-tool/", timeout=5,
                            headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    assert versions.json()["versions"] == ["1.0"]


def test_reupload_identical_200_conflicting_409(server: LiveServer, tmp_path: Path) -> None:
    original = make_wheel(tmp_path / "a", "stable", "1.0")
    twine_upload(server, original)
    again = twine_upload(server, original)
    assert "200 OK" in again.stdout + again.stderr
    impostor = make_wheel(tmp_path / "b", "stable", "1.0", modules={"stable/x.py": "X = 1\n"})
    assert impostor.name == original.name
    conflict = twine_upload(server, impostor, check=False)
    assert conflict.returncode != 0
    assert "409" in conflict.stdout + conflict.stderr
    assert "File already exists" in conflict.stdout + conflict.stderr
    served = requests.get(f"{server.url}files/stable/{original.name}", timeout=5).content
    assert served == original.read_bytes()


def test_pip_uses_the_index_only(server: LiveServer, fresh_venv: Venv) -> None:
    # A name that exists on PyPI is not found here: the client really asks only pubkit.
    result = fresh_venv.pip_install(server.simple_url, "six", check=False)
    assert result.returncode != 0
    assert "No matching distribution found for six" in result.stderr
    assert _requests_for(server, "/simple/six/")


def test_twine_check_accepts_what_we_serve(server: LiveServer, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "checked", "1.0")
    twine_upload(server, wheel)
    downloaded = tmp_path / "down" / wheel.name
    downloaded.parent.mkdir()
    downloaded.write_bytes(requests.get(f"{server.url}files/checked/{wheel.name}",
                                        timeout=5).content)
    assert subprocess.run([sys.executable, "-m", "twine", "check", str(downloaded)],
                          capture_output=True, check=False).returncode == 0
