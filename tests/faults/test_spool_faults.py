"""A full disk under the upload spool and under local storage (a 2 MiB tmpfs), and a server
killed mid-upload: the client gets one line saying what ran out, and nothing half-written
stays, in the spool, in storage or in the catalog."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from pubkit.testing import LiveServer, make_wheel
from tests.faults.hostile import basic, connect, upload_request

pytestmark = pytest.mark.e2e

ALICE = ("alice", "alice-spool-password")


@contextmanager
def small_disk(path: Path, size: str = "2m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path``; the test is skipped where mounting is not
    allowed (not root, or a container without CAP_SYS_ADMIN)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True, check=False)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here for the full disk: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def big_wheel(directory: Path, name: str) -> Path:
    """A 3 MiB wheel (random bytes do not compress): more than the small disk holds."""
    return make_wheel(directory, name, "1.0", extra_files={f"{name}/blob.bin": os.urandom(3 << 20)})


def upload(server: LiveServer, wheel: Path) -> requests.Response:
    request, body = upload_request(wheel, basic(*ALICE))
    headers = dict(line.split(": ", 1) for line in request.decode().split("\r\n")[1:] if line)
    return requests.post(server.url, data=body, headers=headers, timeout=60)


def stored(server: LiveServer) -> list[str]:
    files = server.data_dir / "files"
    # Distribution objects only: the access snapshots (.access/) are the users' record.
    return sorted(str(p.relative_to(files)) for p in files.rglob("*")
                  if p.is_file() and ".access" not in p.relative_to(files).parts)  # fmt: skip


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path / "data")
    live.add_user(*ALICE)
    yield live
    live.stop()


def test_a_full_spool_disk_answers_507_and_keeps_nothing(
    server: LiveServer, tmp_path: Path
) -> None:
    with small_disk(server.data_dir / "tmp"):
        server.start(timeout=120)
        answer = upload(server, big_wheel(tmp_path, "spoolfull"))
        assert answer.status_code == 507, answer.text
        assert answer.text.count("\n") == 1 and "disk is full" in answer.text, answer.text
        assert os.listdir(server.data_dir / "tmp") == []
        assert stored(server) == []
        assert requests.get(server.simple_url + "spoolfull/", timeout=10).status_code == 404
        # A file that fits goes through afterwards.
        small = make_wheel(tmp_path, "fits", "1.0")
        assert upload(server, small).status_code == 200
        assert "Traceback" not in server.log()


def test_a_full_storage_disk_answers_507_and_keeps_nothing(tmp_path: Path) -> None:
    with small_disk(tmp_path / "storage") as storage:
        live = LiveServer(tmp_path / "data", extra_args=["--storage", storage.as_uri()])
        live.add_user(*ALICE)
        live.start(timeout=120)
        try:
            answer = upload(live, big_wheel(tmp_path, "storagefull"))
            assert answer.status_code == 507, answer.text
            assert answer.text.count("\n") == 1, answer.text
            assert "No space left on device; free some disk space" in answer.text
            assert [p.name for p in storage.rglob("*")
                    if p.is_file() and ".access" not in p.relative_to(storage).parts] == []
            assert os.listdir(live.data_dir / "tmp") == []
            page = requests.get(live.simple_url + "storagefull/", timeout=10)
            assert page.status_code == 404
            assert "Traceback" not in live.log()
        finally:
            live.stop()


def test_a_server_killed_mid_upload_leaves_no_spool_file_after_its_restart(
    server: LiveServer, tmp_path: Path
) -> None:
    server.start(timeout=120)
    request, body = upload_request(big_wheel(tmp_path, "killed"), basic(*ALICE))
    spool = server.data_dir / "tmp"
    with connect(server.port) as sock:
        sock.sendall(request + body[: len(body) // 2])
        deadline = time.monotonic() + 30
        while not os.listdir(spool) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.listdir(spool), "the upload never reached the spool"
        assert server.process is not None
        server.process.kill()  # SIGKILL: nothing gets to clean up
        server.process.wait()
    assert os.listdir(spool), "the killed server left nothing to sweep"
    restarted = LiveServer(server.data_dir)
    restarted.start(timeout=120)
    try:
        assert os.listdir(spool) == []
        assert "removed 1 stale upload spool file" in restarted.log()
        assert stored(restarted) == []
    finally:
        restarted.stop()
