"""An upstream index that trickles: a small threaded socket server on 127.0.0.1 answering
what a :class:`~tests.upstream_support.StaticIndex` holds (its pages, its files), where the
test chooses which answers come one byte every ``interval`` seconds, their headers or their
body. Every read of the client's is well within any read timeout; only the whole is slow.
A body may also come slowly but honestly, at a steady rate (``rates``).

Each connection is recorded: when it came, when it ended, and whether the client hung up
before the answer was complete (how the tests see that pubkit let go of it)."""

from __future__ import annotations

import select
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import unquote

from pubkit.core.distributions import normalize_name
from tests.faults.hostile import read_head
from tests.upstream_support import StaticIndex

HEADERS, BODY = "headers", "body"


@dataclass
class Connection:
    path: str
    started: float  # monotonic
    ended: float | None = None
    hung_up: bool = False  # the client closed it before the answer was complete

    @property
    def seconds(self) -> float:
        return (self.ended or time.monotonic()) - self.started


@dataclass
class TrickleUpstream:
    """``trickle``: path prefix -> HEADERS or BODY (which part of those answers trickles);
    ``rates``: path prefix -> bytes per second of those answers' bodies."""

    index: StaticIndex
    trickle: dict[str, str] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)
    length: bool = True  # False: no Content-Length, the body ends when the connection does
    interval: float = 0.5
    connections: list[Connection] = field(default_factory=list)
    port: int = 0

    @property
    def simple_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple/"

    def answer(self, path: str) -> tuple[bytes, bytes]:
        """The head and the body of the answer for ``path`` (closing the connection)."""
        path = unquote(path)
        found: tuple[bytes, str] | None = None
        if path.startswith("/simple/"):
            found = self.index.page(normalize_name(path[len("/simple/") :].strip("/")))
        elif path.startswith("/files/"):
            data = self.index.file(path[len("/files/") :])
            found = None if data is None else (data, "application/octet-stream")
        status, body, kind = ("200 OK", *found) if found else ("404 Not Found", b"", "text/plain")
        length = f"Content-Length: {len(body)}\r\n" if self.length else ""
        head = f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\n{length}Connection: close\r\n\r\n"
        return head.encode(), body

    def how(self, path: str) -> str | None:
        return next((part for prefix, part in self.trickle.items() if path.startswith(prefix)),
                    None)  # fmt: skip

    def rate(self, path: str) -> float | None:
        return next((rate for prefix, rate in self.rates.items() if path.startswith(prefix)),
                    None)  # fmt: skip

    def finished(self, prefix: str) -> list[Connection]:
        return [c for c in self.connections if c.path.startswith(prefix) and c.ended]


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        upstream, sock = self.server.upstream, self.request
        request = read_head(sock)
        if b"\r\n\r\n" not in request:
            return  # the client hung up
        path = request.split(b" ", 2)[1].decode()
        connection = Connection(path, time.monotonic())
        upstream.connections.append(connection)
        head, body = upstream.answer(path)
        how, rate = upstream.how(path), upstream.rate(path)
        try:
            if rate is not None:
                sock.sendall(head)
                step = max(1, int(rate / 10))
                for start in range(0, len(body), step):
                    sock.sendall(body[start : start + step])
                    time.sleep(0.1)
            elif how == HEADERS:
                self._trickle(head + body)
            elif how == BODY:
                sock.sendall(head)
                self._trickle(body)
            else:
                sock.sendall(head + body)
        except OSError:
            connection.hung_up = True
        connection.ended = time.monotonic()

    def _trickle(self, data: bytes) -> None:
        """One byte every interval; OSError when the client hangs up meanwhile."""
        sock = self.request
        for i in range(len(data)):
            sock.sendall(data[i : i + 1])
            readable, _, _ = select.select([sock], [], [], self.server.upstream.interval)
            if readable and not sock.recv(1):
                raise ConnectionResetError("the client hung up")
            if self.server.stopping.is_set():
                raise ConnectionAbortedError("the upstream stops")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: TrickleUpstream) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream
        self.stopping = threading.Event()


@contextmanager
def trickle_upstream(index: StaticIndex, interval: float = 0.5) -> Iterator[TrickleUpstream]:
    """A trickling upstream answering from ``index``, serving until the block ends."""
    upstream = TrickleUpstream(index, interval=interval)
    server = _Server(upstream)
    upstream.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield upstream
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
