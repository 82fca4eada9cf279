"""What clients see beyond install and upload: only this index is asked, files pass checks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import requests

from pubkit.testing import LiveServer, make_wheel
from tests.e2e.support import LogWindow, Venv, output, pip_install, run, twine_upload

pytestmark = pytest.mark.e2e
SERVER_BACKENDS = ("local", "s3-postgres")  # the server core's suite runs on both


def test_pip_asks_only_this_index(server: LiveServer, venv: Venv) -> None:
    # "six" is on PyPI and in this machine's wheel cache: failing here proves isolation.
    window = LogWindow(server)
    result = pip_install(venv, server, "six")
    assert result.returncode != 0
    assert "No matching distribution found for six" in output(result)
    assert window.statuses("GET", "/simple/six/") == [404]


def test_twine_check_accepts_what_we_serve(server: LiveServer, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "dist", "e2e-checked", "1.0")
    assert twine_upload(server, [wheel], "alice").returncode == 0
    downloaded = tmp_path / "down" / wheel.name
    downloaded.parent.mkdir()
    served = requests.get(f"{server.url}files/e2e-checked/{wheel.name}", timeout=5)
    downloaded.write_bytes(served.content)
    checked = run([sys.executable, "-m", "twine", "check", "--strict", downloaded])
    assert checked.returncode == 0, output(checked)
