"""A small HTTP proxy for fault tests: it forwards requests to a real endpoint (a pubkit
server, moto's S3) unless the test's rule says to answer with an error or to stall."""

from __future__ import annotations

import contextlib
import http.client
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Fault:
    status: int | None = None  # answer with this status instead of forwarding
    stall: float = 0.0  # wait this long first (then forward, or answer ``status``)
    message: str = "injected fault"


Rule = Callable[[str, str], Fault | None]  # (method, path) -> a fault, or None to forward

_HOP_BY_HOP = {"transfer-encoding", "connection", "content-length", "keep-alive"}


class _Handler(BaseHTTPRequestHandler):
    server: _ProxyServer
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        # The client may give up first (its timeout during a stall): that is what we test.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._proxy()

    def _proxy(self) -> None:
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length) if length else b""
        fault = self.server.decide(self.command, self.path)
        if fault is not None and fault.stall:
            time.sleep(fault.stall)
        if fault is not None and fault.status is not None:
            message = (fault.message + "\n").encode()
            self.send_response(fault.status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            self.wfile.write(message)
            return
        target = urlsplit(self.server.target)
        connection = http.client.HTTPConnection(target.hostname or "", target.port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        headers["Host"] = target.netloc
        connection.request(self.command, self.path, body=body or None, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in _HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        connection.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    def log_message(self, format: str, *args: object) -> None:
        return


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, target: str, rule: Rule) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.target = target
        self.rule = rule
        self.lock = threading.Lock()

    def decide(self, method: str, path: str) -> Fault | None:
        with self.lock:  # rules may count requests
            return self.rule(method, path)


@contextmanager
def faulty_proxy(target: str, rule: Rule) -> Iterator[str]:
    """A proxy to ``target`` (``http://host:port``) applying ``rule``; its base URL."""
    proxy = _ProxyServer(target.rstrip("/"), rule)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{proxy.server_address[1]}"
    finally:
        proxy.shutdown()
        proxy.server_close()
