"""Deadlines on whole upstream calls, which socket timeouts cannot give.

A read timeout bounds each ``recv``, not the answer: an upstream that sends a byte within
every timeout holds the calling thread for as long as it likes. So each call runs inside
``watchdog.watch(seconds)``; the connections it reads from register their socket with it
(:func:`watched_adapter`'s connections do, at each request and response); once the call's deadline
passes, the watchdog's one daemon thread shuts those sockets down (``SHUT_RDWR``): the
blocked ``recv`` returns at once, the HTTP library raises (or sees the end of the body), and
``call.expired`` tells the caller why. A call may move its deadline later while it runs (a
download earns time with every chunk it receives).

A socket is only shut down while the call that registered it last still runs: a pooled
connection taken over by another call belongs to that call from its next request on (a new
connection, from its response: its socket exists once the request connected it).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests.adapters

_current = threading.local()


class Call:
    """One watched call: its deadline (monotonic) and whether it passed it."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self.sockets: list[socket.socket] = []

    def extend(self, deadline: float) -> None:
        """Move the deadline to ``deadline`` if that is later (never earlier)."""
        self.deadline = max(self.deadline, deadline)


class Watchdog:
    """Shuts down the sockets of the calls that pass their deadline (one thread, started at
    the first call of each process)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._wake = threading.Condition()
        self._calls: set[Call] = set()
        self._owners: dict[socket.socket, Call] = {}
        self._thread: threading.Thread | None = None
        self._closed = False

    @contextmanager
    def watch(self, seconds: float) -> Iterator[Call]:
        """The calling thread's upstream calls within ``seconds`` from now."""
        call = Call(self.clock() + seconds)
        with self._wake:
            self._calls.add(call)
            if self._thread is None or not self._thread.is_alive():  # not yet, or forked
                self._closed = False
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="pubkit-upstream-watchdog")  # fmt: skip
                self._thread.start()
            self._wake.notify()
        outer = getattr(_current, "watched", None)
        _current.watched = (self, call)
        try:
            yield call
        finally:
            _current.watched = outer
            with self._wake:
                self._calls.discard(call)
                for sock in call.sockets:
                    if self._owners.get(sock) is call:
                        del self._owners[sock]

    def attach(self, call: Call, sock: socket.socket) -> None:
        """``sock`` carries ``call`` from now on (shut down at once if it has expired)."""
        with self._wake:
            if call not in self._calls:
                return
            call.sockets.append(sock)
            self._owners[sock] = call
            if call.expired:
                _shutdown(sock)

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()

    def _run(self) -> None:
        with self._wake:
            while not self._closed:
                now = self.clock()
                for call in self._calls:
                    if not call.expired and now >= call.deadline:
                        call.expired = True
                        for sock in call.sockets:
                            if self._owners.get(sock) is call:
                                _shutdown(sock)
                pending = [call.deadline for call in self._calls if not call.expired]
                self._wake.wait(max(0.0, min(pending) - now) if pending else None)


def _shutdown(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for TLS (SSLSocket.shutdown would drop its SSL
    # object under the thread reading from it): the peer's bytes stop, the read returns.
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def attach_current(sock: socket.socket | None) -> None:
    """Register ``sock`` with the calling thread's watched call, if there is one."""
    watched: tuple[Watchdog, Call] | None = getattr(_current, "watched", None)
    if watched is not None and isinstance(sock, socket.socket):
        watched[0].attach(watched[1], sock)


def watched_adapter(pool_connections: int, pool_maxsize: int) -> requests.adapters.HTTPAdapter:
    """A requests adapter whose connections register their socket with the watched call of
    the thread that sends a request on them or reads a response from them."""
    # Imported here: a server without an upstream never loads requests.
    import requests.adapters
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
    from urllib3.response import HTTPResponse

    class Connection(HTTPConnection):
        def request(self, *args: Any, **kwargs: Any) -> None:
            attach_current(self.sock)  # a pooled one: ours from the request on
            super().request(*args, **kwargs)

        def getresponse(self) -> HTTPResponse:  # type: ignore[override]
            attach_current(self.sock)
            return super().getresponse()

    class TLSConnection(Connection, HTTPSConnection):  # the same, over HTTPSConnection's TLS
        pass

    class Pool(HTTPConnectionPool):
        ConnectionCls = Connection

    class TLSPool(HTTPSConnectionPool):
        ConnectionCls = TLSConnection

    pools = {"http": Pool, "https": TLSPool}

    class Adapter(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **kwargs)
            if not proxy.lower().startswith("socks"):  # SOCKS: only the checks per chunk
                manager.pool_classes_by_scheme = pools
            return manager

    return Adapter(pool_connections=pool_connections, pool_maxsize=pool_maxsize)
