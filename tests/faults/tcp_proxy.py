"""A TCP proxy for fault tests: between the server and a dependency (moto's S3, PostgreSQL),
it forwards bytes until the test tells it to pause, slow, refuse or cut.

- ``paused()``: it stops reading from either side, so what was sent sits in socket buffers,
  acknowledged but unanswered, as with a dependency whose process is stopped (SIGSTOP) or a
  load balancer whose backend hangs: TCP keepalives still get their answers. New connections
  are accepted and held the same way. On resume what was held flows on, as a resumed
  process would read it.
- ``slowed(rate)``: every direction of every connection at most ``rate`` bytes a second.
- ``refused()``: new connections are reset as soon as they are accepted; open ones are cut.
- ``cut()``: every open connection is reset (RST) now; new ones go through.

Every fault is bounded in time (``max_seconds``): a failing test cannot leave it on.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator

_TICK = 0.02
_CHUNK = 64 * 1024


def _reset(sock: socket.socket) -> None:
    """Close with an RST rather than a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class _Pair:
    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.closed = threading.Event()

    def close(self, reset: bool = False) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for sock in (self.client, self.upstream):
            if reset:
                _reset(sock)
            else:
                with contextlib.suppress(OSError):
                    sock.close()


class TcpProxy:
    """Listens on 127.0.0.1 (``port``) and forwards to ``target`` (host, port)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_TICK * 5)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: set[_Pair] = set()
        self._stopped = threading.Event()
        self._paused_until = 0.0
        self._refused_until = 0.0
        self._rate: float | None = None
        self._slowed_until = 0.0
        self._thread = threading.Thread(target=self._accept, daemon=True, name="tcp-proxy")

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> TcpProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._listener.close()
        self.cut()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    # -- faults ------------------------------------------------------------------------------

    def pause(self, max_seconds: float = 30.0) -> None:
        self._paused_until = time.monotonic() + max_seconds

    def resume(self) -> None:
        self._paused_until = 0.0

    @contextlib.contextmanager
    def paused(self, max_seconds: float = 30.0) -> Iterator[None]:
        self.pause(max_seconds)
        try:
            yield
        finally:
            self.resume()

    @contextlib.contextmanager
    def slowed(self, bytes_per_second: float, max_seconds: float = 30.0) -> Iterator[None]:
        self._rate = bytes_per_second
        self._slowed_until = time.monotonic() + max_seconds
        try:
            yield
        finally:
            self._slowed_until = 0.0

    @contextlib.contextmanager
    def refused(self, max_seconds: float = 30.0) -> Iterator[None]:
        self._refused_until = time.monotonic() + max_seconds
        self.cut()
        try:
            yield
        finally:
            self._refused_until = 0.0

    def cut(self) -> int:
        """Reset every open connection; how many there were."""
        with self._lock:
            pairs = list(self._pairs)
            self._pairs.clear()
        for pair in pairs:
            pair.close(reset=True)
        return len(pairs)

    # -- forwarding --------------------------------------------------------------------------

    def _paused(self) -> bool:
        return time.monotonic() < self._paused_until

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if time.monotonic() < self._refused_until:
                _reset(client)
                continue
            threading.Thread(target=self._open, args=(client,), daemon=True).start()

    def _open(self, client: socket.socket) -> None:
        # A paused dependency holds new connections too: accepted, then nothing.
        while self._paused() and not self._stopped.is_set():
            time.sleep(_TICK)
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _reset(client)
            return
        pair = _Pair(client, upstream)
        with self._lock:
            self._pairs.add(pair)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(pair, source, sink), daemon=True).start()

    def _pump(self, pair: _Pair, source: socket.socket, sink: socket.socket) -> None:
        try:
            while not pair.closed.is_set() and not self._stopped.is_set():
                if self._paused():
                    time.sleep(_TICK)
                    continue
                readable, _, _ = select.select([source], [], [], _TICK)
                if not readable:
                    continue
                slow = time.monotonic() < self._slowed_until and self._rate
                size = max(1, int(self._rate * _TICK)) if slow and self._rate else _CHUNK
                data = source.recv(size)
                if not data:
                    break
                if slow and self._rate:
                    time.sleep(len(data) / self._rate)
                sink.sendall(data)
        except (OSError, ValueError):
            pass  # cut, or closed by the other pump
        with self._lock:
            self._pairs.discard(pair)
        pair.close()
