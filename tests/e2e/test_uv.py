"""Publish with ``uv publish``, install with ``uv pip install`` into a fresh venv."""

from __future__ import annotations

from pathlib import Path

import pytest

from pubkit.testing import LiveServer, make_sdist, make_wheel
from tests.e2e.support import (
    LogWindow,
    Venv,
    file_path,
    files_by_name,
    output,
    sha256_of,
    uv_pip_install,
    uv_publish,
)

pytestmark = pytest.mark.e2e
SERVER_BACKENDS = ("local", "s3-postgres")  # the server core's suite runs on both


def test_uv_publish_then_uv_pip_install(server: LiveServer, venv: Venv, dists: Path) -> None:
    wheel = make_wheel(dists, "e2e-uv-demo", "0.7")
    sdist = make_sdist(dists, "e2e-uv-demo", "0.7")

    window = LogWindow(server)
    published = uv_publish(server, [wheel, sdist], "alice")
    assert published.returncode == 0, output(published)
    assert window.statuses("POST", "/") == [200, 200], window.describe()
    listed = files_by_name(server, "e2e-uv-demo")
    assert {name: (entry["hashes"]["sha256"], entry["size"]) for name, entry in listed.items()} == {
        wheel.name: (sha256_of(wheel), wheel.stat().st_size),
        sdist.name: (sha256_of(sdist), sdist.stat().st_size),
    }

    window = LogWindow(server)
    installed = uv_pip_install(venv, server, "e2e-uv-demo")
    assert installed.returncode == 0, output(installed)
    assert "+ e2e-uv-demo==0.7" in installed.stderr, output(installed)
    assert window.statuses("GET", "/simple/e2e-uv-demo/") == [200], window.describe()
    assert window.statuses("GET", file_path("e2e-uv-demo", wheel.name)) == [200], window.describe()
    version, module_file = venv.module_version("e2e_uv_demo")
    assert version == "0.7"
    assert module_file.is_relative_to(venv.path)
    assert venv.installed() == {"e2e-uv-demo": "0.7"}


def test_uv_publish_again_identical_succeeds_conflicting_fails(
    server: LiveServer, dists: Path, tmp_path: Path
) -> None:
    wheel = make_wheel(dists, "e2e-uv-again", "1.0")
    first = uv_publish(server, [wheel], "alice")
    assert first.returncode == 0, output(first)
    before = files_by_name(server, "e2e-uv-again")

    window = LogWindow(server)
    again = uv_publish(server, [wheel], "alice")
    assert again.returncode == 0, output(again)
    assert window.statuses("POST", "/") == [200], window.describe()
    assert files_by_name(server, "e2e-uv-again") == before

    other = make_wheel(
        tmp_path / "other", "e2e-uv-again", "1.0", modules={"e2e_uv_again/extra.py": "X = 1\n"}
    )
    assert other.name == wheel.name
    assert sha256_of(other) != sha256_of(wheel)
    window = LogWindow(server)
    conflict = uv_publish(server, [other], "alice")
    assert conflict.returncode != 0, output(conflict)
    assert window.statuses("POST", "/") == [409], window.describe()
    assert "409" in conflict.stderr, output(conflict)
    assert "different content" in conflict.stderr, output(conflict)
    assert files_by_name(server, "e2e-uv-again") == before
