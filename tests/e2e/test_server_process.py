"""The server as a process: configuration errors, timeouts, shutdown."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from pubkit.testing import LiveServer, free_port, make_wheel

pytestmark = pytest.mark.e2e


def _pubkit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pubkit", *args], capture_output=True,
                          text=True, timeout=60, env=env, check=False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "port 70000 is out of range"),
        (["--workers", "0"], "workers must be at least 1"),
        (["--read", "everyone"], "read policy 'everyone' is unknown"),
        (["--max-upload-size", "huge"], "--max-upload-size has an invalid value"),
        (["--storage", "ftp://x"], "storage URL 'ftp://x' is not understood"),
        (["--catalog", "mysql://x"], "catalog URL 'mysql://x' is not understood"),
    ],
)
def test_bad_configuration_exits_2_with_one_line(tmp_path: Path, args: list[str],
                                                  message: str) -> None:
    result = _pubkit("serve", "--data-dir", str(tmp_path), *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert result.stderr.count("\n") == 1  # one line, no traceback


def test_port_in_use_is_explained(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _pubkit("serve", "--data-dir", str(tmp_path), "--port", str(port))
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_stalled_upload_is_dropped_with_408(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "data", env={"PUBKIT_REQUEST_TIMEOUT": "1"})
    server.add_user("alice", "stall-password")
    server.start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                b"Authorization: Basic YWxpY2U6c3RhbGwtcGFzc3dvcmQ=\r\n"
                b"Content-Type: multipart/form-data; boundary=xyz\r\n\r\n"
                b'--xyz\r\nContent-Disposition: form-data; name="content"; filename="a-1.tar.gz"'
                b"\r\n\r\npartial"
            )
            started = time.monotonic()
            answer = b""
            while chunk := sock.recv(4096):  # until the server closes the connection
                answer += chunk
            waited = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408"), (answer, waited, server.log())
        assert waited < 20  # the server's timeout, not ours, ended the wait
        assert b"the request body arrived too slowly (paused 1 s" in answer
        assert list((tmp_path / "data" / "tmp").iterdir()) == []
        # The worker is free for the next client.
        assert requests.get(server.url + "health", timeout=5).status_code == 200
    finally:
        server.stop()


def test_graceful_shutdown_finishes_an_inflight_upload(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "data")
    server.add_user("alice", "graceful-password")
    server.start()
    wheel = make_wheel(tmp_path / "dist", "slowpoke", "1.0")
    data = wheel.read_bytes()
    import hashlib

    body_head = (
        b"--b\r\nContent-Disposition: form-data; name=\":action\"\r\n\r\nfile_upload\r\n"
        b"--b\r\nContent-Disposition: form-data; name=\"sha256_digest\"\r\n\r\n"
        + hashlib.sha256(data).hexdigest().encode()
        + b"\r\n--b\r\nContent-Disposition: form-data; name=\"content\"; filename=\""
        + wheel.name.encode() + b"\"\r\n\r\n"
    )
    body = body_head + data + b"\r\n--b--\r\n"
    assert server.process is not None
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + str(len(body)).encode()
            + b"\r\nAuthorization: Basic YWxpY2U6Z3JhY2VmdWwtcGFzc3dvcmQ=\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\nConnection: close\r\n\r\n"
            + body[:100]
        )
        time.sleep(0.5)
        server.process.terminate()  # SIGTERM while the request is in flight
        time.sleep(0.5)
        sock.sendall(body[100:])
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    # uvicorn re-raises SIGTERM once it has drained, so the exit status says how it ended.
    assert server.process.wait(timeout=20) in (0, -15)
    # The file is complete and listed after a restart.
    restarted = LiveServer(tmp_path / "data", port=free_port()).start()
    try:
        page = requests.get(restarted.simple_url + "slowpoke/", timeout=5)
        assert wheel.name in page.text
    finally:
        restarted.stop()


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def test_supervisor_replaces_a_dead_worker_and_stops_cleanly(tmp_path: Path) -> None:
    import os
    import signal

    server = LiveServer(tmp_path / "data", extra_args=("--workers", "2")).start()
    try:
        assert server.process is not None
        workers = _children(server.process.pid)
        assert len(workers) == 2
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            current = _children(server.process.pid)
            if len(current) == 2 and victim not in current:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"no replacement worker:\n{server.log()}")
        assert requests.get(server.url + "health", timeout=5).status_code == 200
        assert "exited with -9; starting another" in server.log()
        server.process.terminate()
        assert server.process.wait(timeout=30) == 0
        assert all(not Path(f"/proc/{pid}").exists() for pid in current)
    finally:
        server.stop()
