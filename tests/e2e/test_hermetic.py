"""Two test runs on one machine do not interfere: a server whose port was taken meanwhile
starts elsewhere and never mistakes another process's answers for its own; buckets and
databases are named once."""

from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from pubkit.testing import LiveServer
from tests.conftest import unique_bucket_name
from tests.e2e.support import access_log

pytestmark = pytest.mark.e2e


class _Impostor(BaseHTTPRequestHandler):
    """Another run's server: 200 to everything."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args: object) -> None:
        pass


def test_a_server_whose_port_was_taken_starts_on_another(tmp_path: Path) -> None:
    impostor = ThreadingHTTPServer(("127.0.0.1", 0), _Impostor)
    thread = threading.Thread(target=impostor.serve_forever, daemon=True)
    thread.start()
    taken = impostor.server_address[1]
    server = LiveServer(tmp_path / "data", port=taken)
    try:
        server.start()
        assert server.port != taken
        first_log = (tmp_path / f"server-{taken}.log").read_text()
        assert f"cannot listen on 127.0.0.1:{taken}" in first_log
        # The server that answers is the one started: the request is in its access log.
        assert requests.get(server.url + "health", timeout=10).status_code == 200
        deadline = time.monotonic() + 10
        while not any(hit.path == "/health" for hit in access_log(server)):
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
    finally:
        server.stop()
        impostor.shutdown()
        impostor.server_close()


def test_bucket_names_are_unique_and_valid() -> None:
    names = {unique_bucket_name("e2e-Test_Upload[s3-postgres]") for _ in range(100)}
    assert len(names) == 100
    for name in names:
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", name), name
        assert name.startswith("e2e-test-upload-s3-postgres-")
