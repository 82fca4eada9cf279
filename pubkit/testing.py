"""Helpers for tests, ours and our users': distribution builders and a live server.

``make_wheel`` and ``make_sdist`` write small but valid distributions without running a build
backend; ``LiveServer`` runs ``pubkit serve`` as a real process on a free port.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import socket
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from pubkit.core.distributions import normalize_name


def _dist_name(name: str) -> str:
    return normalize_name(name).replace("-", "_")


def core_metadata(
    name: str,
    version: str,
    requires: Sequence[str] = (),
    requires_python: str | None = None,
    summary: str = "A test package",
) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {summary}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines.extend(f"Requires-Dist: {requirement}" for requirement in requires)
    lines.append("Description-Content-Type: text/markdown")
    return "\n".join(lines) + f"\n\n# {name}\n\n{summary}.\n"


def make_wheel(
    directory: Path,
    name: str,
    version: str,
    requires: Sequence[str] = (),
    requires_python: str | None = None,
    modules: Mapping[str, str] | None = None,
    metadata: str | None = None,
    extra_files: Mapping[str, bytes] | None = None,
) -> Path:
    """Write ``{name}-{version}-py3-none-any.whl`` with a RECORD, and return its path."""
    dist = _dist_name(name)
    dist_info = f"{dist}-{version}.dist-info"
    module = dist
    files: dict[str, bytes] = {
        f"{module}/__init__.py": f'__version__ = "{version}"\n'.encode(),
    }
    for path, text in (modules or {}).items():
        files[path] = text.encode()
    for path, data in (extra_files or {}).items():
        files[path] = data
    files[f"{dist_info}/METADATA"] = (
        metadata or core_metadata(name, version, requires, requires_python)
    ).encode()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: pubkit.testing\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record_lines = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record_lines.append(f"{path},sha256={digest},{len(data)}")
    record_lines.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record_lines) + "\n").encode()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0)), data)
    return target


def make_sdist(
    directory: Path,
    name: str,
    version: str,
    requires: Sequence[str] = (),
    metadata: str | None = None,
) -> Path:
    """Write ``{name}-{version}.tar.gz`` (setuptools-buildable) and return its path."""
    dist = _dist_name(name)
    top = f"{dist}-{version}"
    pyproject = (
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\n'
        f"dependencies = {list(requires)!r}\n".replace("'", '"')
    )
    members = {
        f"{top}/PKG-INFO": (metadata or core_metadata(name, version, requires)).encode(),
        f"{top}/pyproject.toml": pyproject.encode(),
        f"{top}/{dist}/__init__.py": f'__version__ = "{version}"\n'.encode(),
    }
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{top}.tar.gz"
    with tarfile.open(target, "w:gz") as archive:
        for path, data in members.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
    return target


BACKEND_VARIABLES = ("PUBKIT_STORAGE", "PUBKIT_CATALOG")
# How long a server may take to become ready. Generous: on a machine busy with other test
# runs, starting on S3 and PostgreSQL (imports, the storage check, the catalog's migrations,
# in the CLI and again in the server) took 36 s; a failure to start is seen at once anyway.
START_TIMEOUT = 180.0
PORT_ATTEMPTS = 5


class PortTakenError(RuntimeError):
    """The free port chosen for a server was taken before the server bound it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """``pubkit serve`` in a subprocess, on 127.0.0.1 and a free port."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    extra_args: Sequence[str] = ()
    env: Mapping[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def simple_url(self) -> str:
        return self.url + "simple/"

    def add_user(self, name: str, password: str, admin: bool = False) -> None:
        args = [sys.executable, "-m", "pubkit", "user", "add", name, "--password-stdin"]
        args += ["--data-dir", str(self.data_dir)] + (["--admin"] if admin else [])
        subprocess.run(
            args, input=password + "\n", text=True, check=True, capture_output=True, env=self._env()
        )

    def _env(self) -> dict[str, str]:
        # Other PUBKIT_* settings of the calling environment stay out; where the data lives
        # follows it, so one test suite runs against S3 and PostgreSQL too.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PUBKIT_") or k in BACKEND_VARIABLES}  # fmt: skip
        env.update(self.env or {})
        return env

    def start(self, timeout: float = START_TIMEOUT) -> LiveServer:
        """Start the server and wait until it is ready; a port taken meanwhile by another
        process (a free port is only free when it is chosen) means another port."""
        for _attempt in range(PORT_ATTEMPTS - 1):
            try:
                return self._start(timeout)
            except PortTakenError:
                self.port = free_port()
        return self._start(timeout)

    def _start(self, timeout: float) -> LiveServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pubkit",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self._env(),
        )
        # `pubkit serve` says where it serves once it holds the socket: only then is an
        # answer on the port this server's, not another one's that took the port first.
        banner = f"pubkit serving {self.url} "
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.log()
                if f"cannot listen on 127.0.0.1:{self.port}" in output:
                    raise PortTakenError(output)
                raise RuntimeError(f"pubkit serve exited early:\n{output}")
            if banner in self.log():
                try:
                    if requests.get(self.url + "ready", timeout=5).status_code == 200:
                        return self
                except requests.RequestException:
                    # A read timeout while the workers are still starting.
                    pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"pubkit serve did not become ready in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def live_server(data_dir: Path, *extra_args: str) -> Iterator[LiveServer]:
    server = LiveServer(data_dir, extra_args=extra_args).start()
    try:
        yield server
    finally:
        server.stop()
