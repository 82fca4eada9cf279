"""Shared by test_clients.py: a live ``pubkit serve`` and clients in throwaway virtualenvs."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from pubkit.testing import LiveServer

PASSWORDS = {"alice": "alice-password", "bob": "bob-password"}


def client_env() -> dict[str, str]:
    """The environment for pip, uv and twine: no machine-wide index, mirror or constraint."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIP_", "UV_", "PUBKIT_", "TWINE_"))
    }
    env.update({"PIP_CONFIG_FILE": "/dev/null", "UV_NO_CONFIG": "1", "PIP_NO_CACHE_DIR": "1",
                "UV_NO_CACHE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    return env


def run(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                            env=client_env(), timeout=180, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def client_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("e2e") / "data")
    for name, password in PASSWORDS.items():
        live.add_user(name, password)
    live.start()
    yield live
    live.stop()


class Venv:
    def __init__(self, path: Path) -> None:
        venv.create(path, with_pip=False)
        self.path = path
        self.python = path / "bin" / "python"

    def pip_install(self, index: str, *requirements: str,
                    check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(sys.executable, "-m", "pip", "--python", self.python, "install",
                   "--isolated", "--index-url", index, *requirements, check=check)

    def uv_install(self, index: str, *requirements: str) -> subprocess.CompletedProcess[str]:
        return run(sys.executable, "-m", "uv", "pip", "install", "--python", self.python,
                   "--index-url", index, *requirements)

    def version_of(self, module: str) -> str:
        code = f"import {module}; print({module}.__version__)"
        return run(self.python, "-c", code).stdout.strip()


@pytest.fixture
def fresh_venv(tmp_path: Path) -> Venv:
    return Venv(tmp_path / "venv")


def twine_upload(server: LiveServer, *files: Path, user: str | None = "alice",
                 check: bool = True) -> subprocess.CompletedProcess[str]:
    credentials = ["-u", user, "-p", PASSWORDS[user]] if user else ["-u", "", "-p", ""]
    return run(sys.executable, "-m", "twine", "upload", "--non-interactive", "--verbose",
               "--disable-progress-bar", "--repository-url", server.url, *credentials, *files,
               check=check)


def access_log(server: LiveServer) -> list[str]:
    return [line for line in server.log().splitlines() if line.startswith("{")]
