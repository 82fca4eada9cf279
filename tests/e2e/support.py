"""Helpers for the e2e tier: real clients in subprocesses, isolated from this machine's config.

Every client (twine, pip, uv) runs with an environment stripped of ``PIP_*``, ``UV_*``,
``TWINE_*`` and proxy variables, with configuration files disabled, and talks only to the live
server on 127.0.0.1. The server's JSON access log is how the tests prove what was fetched.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from pubkit.testing import BACKEND_VARIABLES, LiveServer

PASSWORDS = {"alice": "alice-e2e-password", "bob": "bob-e2e-password"}
CLIENT_TIMEOUT = 180

_STRIPPED_PREFIXES = ("PIP_", "UV_", "TWINE_", "PUBKIT_", "PYTHON_KEYRING")
_PROXY_NAMES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


def client_env() -> dict[str, str]:
    """The environment for client subprocesses: no ambient index, proxy or credential config."""
    env = {
        key: value
        for key, value in os.environ.items()
        if (not key.upper().startswith(_STRIPPED_PREFIXES) or key in BACKEND_VARIABLES)
        and key.lower() not in _PROXY_NAMES
    }
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        UV_NO_CONFIG="1",
        UV_PYTHON_DOWNLOADS="never",
        # No keyring lookups: credentials come from the command line only.
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        NO_COLOR="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    return env


def run(args: Sequence[str | Path], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args],
        env=client_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
        check=False,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    """A process's command line, exit code and both streams, for assertion messages."""
    command = " ".join(str(arg) for arg in result.args)
    return (
        f"$ {command}\nexit code {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- clients -------------------------------------------------------------------------------


def twine_upload(
    server: LiveServer, files: Sequence[Path], user: str | None, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``twine upload``; ``user=None`` sends no credentials at all (empty user and password)."""
    if user is None:
        credentials = ["-u", "", "-p", ""]
    else:
        credentials = ["-u", user, "-p", password if password is not None else PASSWORDS[user]]
    return run(
        [
            sys.executable,
            "-m",
            "twine",
            "upload",
            "--repository-url",
            server.url,
            *credentials,
            "--non-interactive",
            "--disable-progress-bar",
            *files,
        ]
    )


def uv_publish(
    server: LiveServer, files: Sequence[Path], user: str, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    return run(
        [
            sys.executable,
            "-m",
            "uv",
            "publish",
            "--publish-url",
            server.url,
            "--username",
            user,
            "--password",
            password or PASSWORDS[user],
            "--trusted-publishing",
            "never",
            "--no-cache",
            "--color",
            "never",
            *files,
        ]
    )


def pip(
    command: str, *args: str | Path, python: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The outer pip, isolated from every config file and variable; ``python`` is the target."""
    target = ["--python", str(python)] if python is not None else []
    return run(
        [
            sys.executable,
            "-m",
            "pip",
            *target,
            command,
            "--isolated",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--no-input",
            *args,
        ]
    )


def pip_install(
    venv: Venv, server: LiveServer, *requirements: str, report: Path | None = None
) -> subprocess.CompletedProcess[str]:
    extra: list[str | Path] = ["--report", report] if report is not None else []
    return pip(
        "install", "--index-url", server.simple_url, *extra, *requirements, python=venv.python
    )


def uv_pip_install(
    venv: Venv, server: LiveServer, *requirements: str
) -> subprocess.CompletedProcess[str]:
    return run(
        [
            sys.executable,
            "-m",
            "uv",
            "pip",
            "install",
            "--python",
            venv.python,
            "--default-index",
            server.simple_url,
            "--no-cache",
            "--color",
            "never",
            *requirements,
        ]
    )


# -- throwaway virtual environments --------------------------------------------------------


@dataclass(frozen=True)
class Venv:
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def module_version(self, module: str) -> tuple[str, Path]:
        """``module.__version__`` and ``module.__file__`` as imported by this venv (``-I``)."""
        code = f"import {module} as m; print(m.__version__); print(m.__file__)"
        result = run([self.python, "-I", "-c", code])
        assert result.returncode == 0, output(result)
        version, file = result.stdout.strip().splitlines()
        return version, Path(file)

    def installed(self) -> dict[str, str]:
        """Distribution name (normalized) -> version, for everything installed in the venv."""
        code = (
            "import importlib.metadata as md, json;"
            "print(json.dumps({d.metadata['Name']: d.version for d in md.distributions()}))"
        )
        result = run([self.python, "-I", "-c", code])
        assert result.returncode == 0, output(result)
        names: dict[str, str] = json.loads(result.stdout)
        return {name.lower().replace("_", "-"): version for name, version in names.items()}


def create_venv(path: Path) -> Venv:
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(path)],
        check=True,
        capture_output=True,
        timeout=CLIENT_TIMEOUT,
    )
    return Venv(path)


# -- the server's access log ---------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    method: str
    path: str
    status: int


def access_log(server: LiveServer) -> list[Hit]:
    hits = []
    for line in server.log().splitlines():
        if not line.startswith("{"):
            continue
        entry: dict[str, Any] = json.loads(line)
        if "method" not in entry:  # an audit line
            continue
        hits.append(Hit(entry["method"], entry["path"], int(entry["status"])))
    return hits


SENTINEL_PATH = "/health"


def sync_access_log(server: LiveServer, timeout: float = 10.0) -> int:
    """Index just past a fresh sentinel request's log line: every earlier request is logged.

    The server writes a request's access-log line after sending the response, so a client can
    finish before its line is in the file; a request made afterwards and seen in the log proves
    that the earlier ones are there too (one worker, requests served in order).
    """
    before = sum(hit.path == SENTINEL_PATH for hit in access_log(server))
    assert requests.get(server.url + SENTINEL_PATH.lstrip("/"), timeout=10).status_code == 200
    deadline = time.monotonic() + timeout
    while True:
        hits = access_log(server)
        seen = 0
        for index, hit in enumerate(hits):
            seen += hit.path == SENTINEL_PATH
            if seen == before + 1:
                return index + 1
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the sentinel request never reached the access log:\n{server.log()}"
            )
        time.sleep(0.02)


class LogWindow:
    """The access-log entries of the requests made since the window was opened."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.start = sync_access_log(server)

    def hits(self) -> list[Hit]:
        end = sync_access_log(self.server)
        return [
            hit
            for hit in access_log(self.server)[self.start : end - 1]
            if hit.path != SENTINEL_PATH
        ]

    def statuses(self, method: str, path: str) -> list[int]:
        return [hit.status for hit in self.hits() if hit.method == method and hit.path == path]

    def describe(self) -> str:
        return "\n".join(f"{h.method} {h.path} -> {h.status}" for h in self.hits())


def file_path(project: str, filename: str) -> str:
    """Where the server serves a distribution (the access log's ``path``)."""
    return f"/files/{project}/{filename}"


# -- reading the index directly ------------------------------------------------------------

JSON_V1 = "application/vnd.pypi.simple.v1+json"


def project_json(server: LiveServer, project: str) -> dict[str, Any]:
    response = requests.get(
        f"{server.simple_url}{project}/", headers={"Accept": JSON_V1}, timeout=10
    )
    assert response.status_code == 200, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(JSON_V1), response.headers
    page: dict[str, Any] = response.json()
    return page


def files_by_name(server: LiveServer, project: str) -> dict[str, dict[str, Any]]:
    return {entry["filename"]: entry for entry in project_json(server, project)["files"]}


# -- servers and venvs (the fixtures in conftest.py use these) ------------------------------


def start_server(
    data_dir: Path, *extra_args: str, admin: tuple[str, str] | None = None,
    timeout: float | None = None,
) -> LiveServer:  # fmt: skip
    """``pubkit serve`` in a real process on a free port, with users alice and bob (and the
    administrator ``admin``: name, password); ``timeout``: how long it may take to start
    (several workers start at once: slow on a busy machine)."""
    server = LiveServer(data_dir, extra_args=extra_args)
    for name, password in PASSWORDS.items():
        server.add_user(name, password)
    if admin is not None:
        server.add_user(*admin, admin=True)
    return server.start() if timeout is None else server.start(timeout=timeout)


VenvFactory = Callable[[], Venv]
