"""PEP 592 end to end: ``pubkit yank`` on the live server's data dir, then pip and uv."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pubkit.testing import LiveServer, make_wheel
from tests.e2e import support
from tests.e2e.support import (
    LogWindow,
    file_path,
    files_by_name,
    output,
    pip_install,
    run,
    twine_upload,
    uv_pip_install,
)

pytestmark = pytest.mark.e2e
SERVER_BACKENDS = ("local", "s3-postgres")  # the server core's suite runs on both

PROJECT = "e2e-yanked"


@pytest.fixture(scope="module")
def wheels(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Versions 1.0 and 2.0 uploaded, then 2.0 yanked with the CLI while the server runs."""
    directory = tmp_path_factory.mktemp("dists")
    built = {version: make_wheel(directory, PROJECT, version) for version in ("1.0", "2.0")}
    uploaded = twine_upload(server, list(built.values()), "alice")
    assert uploaded.returncode == 0, output(uploaded)
    yanked = run(
        [sys.executable, "-m", "pubkit", "yank", PROJECT, "2.0", "--reason", "broken",
         "--data-dir", server.data_dir],
    )  # fmt: skip
    assert yanked.returncode == 0, output(yanked)
    assert yanked.stdout.strip() == f"yanked {PROJECT} 2.0 (1 file(s))", output(yanked)
    return built


def test_the_index_shows_the_yank(server: LiveServer, wheels: dict[str, Path]) -> None:
    listed = files_by_name(server, PROJECT)
    assert listed[wheels["2.0"].name]["yanked"] == "broken"
    assert listed[wheels["1.0"].name]["yanked"] is False


def test_pip_skips_the_yanked_release(
    server: LiveServer, wheels: dict[str, Path], make_venv: support.VenvFactory
) -> None:
    venv = make_venv()
    window = LogWindow(server)
    installed = pip_install(venv, server, PROJECT)
    assert installed.returncode == 0, output(installed)
    assert venv.module_version("e2e_yanked")[0] == "1.0"
    assert window.statuses("GET", file_path(PROJECT, wheels["1.0"].name)) == [200]
    assert window.statuses("GET", file_path(PROJECT, wheels["2.0"].name)) == [], window.describe()
    assert "yanked version" not in installed.stderr, output(installed)


def test_pip_installs_the_yanked_release_when_pinned(
    server: LiveServer, wheels: dict[str, Path], make_venv: support.VenvFactory
) -> None:
    venv = make_venv()
    window = LogWindow(server)
    installed = pip_install(venv, server, f"{PROJECT}==2.0")
    assert installed.returncode == 0, output(installed)
    assert venv.module_version("e2e_yanked")[0] == "2.0"
    assert window.statuses("GET", file_path(PROJECT, wheels["2.0"].name)) == [200], (
        window.describe()
    )
    # pip tells the user why the release was yanked.
    assert "yanked version" in installed.stderr, output(installed)
    assert "Reason for being yanked: broken" in installed.stderr, output(installed)


def test_uv_skips_the_yanked_release(
    server: LiveServer, wheels: dict[str, Path], make_venv: support.VenvFactory
) -> None:
    venv = make_venv()
    window = LogWindow(server)
    installed = uv_pip_install(venv, server, PROJECT)
    assert installed.returncode == 0, output(installed)
    assert f"+ {PROJECT}==1.0" in installed.stderr, output(installed)
    assert venv.module_version("e2e_yanked")[0] == "1.0"
    assert window.statuses("GET", file_path(PROJECT, wheels["2.0"].name)) == [], window.describe()


def test_uv_installs_the_yanked_release_when_pinned(
    server: LiveServer, wheels: dict[str, Path], make_venv: support.VenvFactory
) -> None:
    venv = make_venv()
    installed = uv_pip_install(venv, server, f"{PROJECT}==2.0")
    assert installed.returncode == 0, output(installed)
    assert f"+ {PROJECT}==2.0" in installed.stderr, output(installed)
    assert venv.module_version("e2e_yanked")[0] == "2.0"
    assert 'is yanked (reason: "broken")' in installed.stderr, output(installed)
