"""HTTP limits a reverse proxy would set, in the worker's own HTTP protocol.

uvicorn's httptools protocol (the fastest it has) reads request heads of any size, waits for
a head or a body forever, and lets connections pile up until the process runs out of file
descriptors. :func:`guarded_protocol` subclasses it with the limits nginx or Apache would
apply in front of it:

- the request head (request line and headers) is at most ``max_header_size`` bytes: 431;
- it must be complete within ``header_timeout`` seconds of the connection opening or of its
  first byte (keep-alive: uvicorn closes a connection idle ``keep_alive_timeout`` seconds
  after a response): 408, or a silent close when nothing was sent at all;
- a body may pause at most ``request_timeout`` seconds and must keep an average of
  ``min_body_rate`` bytes/s after its first ``request_timeout`` seconds (Apache's
  mod_reqtimeout rule): 408;
- a client that reads nothing of its answer for ``request_timeout`` seconds is dropped;
- a worker holds at most ``max_connections`` connections: a new one beyond that closes the
  oldest connection no request is being answered on, or, if every one is busy, is answered
  503 and closed; the accept loop never stops.

A request's phases only note a clock in a few attributes; one sweep per worker, twice a
second, holds every connection to its deadlines (see :class:`_Worker`).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from dataclasses import dataclass
from typing import Any

from pubkit.server.protocols import AnswerHttpToolsProtocol

log = logging.getLogger("pubkit.server")

# File descriptors a worker keeps for itself: the listening socket, storage files being
# streamed, spool files, the catalog's connections, logs.
FD_RESERVE = 128
# Warnings about refused or dropped connections: at most one per this many seconds.
WARN_INTERVAL = 10.0


@dataclass(frozen=True)
class HttpLimits:
    max_header_size: int = 32 * 1024
    header_timeout: float = 10.0
    request_timeout: float = 30.0
    min_body_rate: int = 1024
    max_connections: int = 1000


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards ``wanted`` (as far as the hard limit
    allows); the connections a worker can then hold beside its own files."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted + FD_RESERVE
    if hard != resource.RLIM_INFINITY:
        target = min(target, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - FD_RESERVE))


def _response(status: int, reason: str, message: str, extra: str = "") -> bytes:
    body = message.encode() + b"\n"
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n{extra}\r\n"
    )
    return head.encode() + body


HEAD_TOO_LARGE = "the request headers are larger than this server's limit of {} bytes"
HEAD_TOO_SLOW = "the request headers did not arrive within {:g} seconds; the connection was closed"
BODY_TOO_SLOW = "the request body arrived too slowly (paused {:g} s or under {} bytes/s); dropped"
TOO_MANY = _response(503, "Service Unavailable",
                     "the server has too many open connections; retry in a moment",
                     "retry-after: 1\r\n")  # fmt: skip


class _Worker:
    """What the connections of one worker share: a clock that a sweep advances every
    ``TICK`` seconds, and the sweep that holds every connection to its deadlines.

    A request pays for no timer: its phases only note the sweep's clock in attributes, and
    one sweep looks at every open connection twice a second (a thousand connections cost it
    well under a millisecond), so a deadline holds to within a tick."""

    TICK = 0.5

    def __init__(self) -> None:
        self.now = 0.0
        self.connections: set[Any] | None = None
        self.sweeping: asyncio.TimerHandle | None = None
        self.warned = 0.0

    def start(self, loop: asyncio.AbstractEventLoop, connections: set[Any]) -> None:
        self.connections = connections
        if self.sweeping is None:
            self.now = loop.time()
            self.sweeping = loop.call_later(self.TICK, self.sweep, loop)

    def sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self.now = now = loop.time()
        try:
            for connection in list(self.connections or ()):
                if isinstance(connection, GuardedProtocol):
                    connection.check(now)
        except Exception:  # a bug here must not end the sweeps (and every limit with them)
            log.exception("the connection sweep failed")
        finally:
            self.sweeping = (loop.call_later(self.TICK, self.sweep, loop) if self.connections
                             else None)  # fmt: skip

    def oldest_idle(self) -> GuardedProtocol | None:
        """The connection that has waited longest with no request being answered on it."""
        oldest: GuardedProtocol | None = None
        for connection in self.connections or ():
            if (isinstance(connection, GuardedProtocol) and connection.idle_since
                    and not connection.transport.is_closing()
                    and (oldest is None or connection.idle_since < oldest.idle_since)):
                oldest = connection  # fmt: skip
        return oldest

    def warn(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self.warned >= WARN_INTERVAL:
            self.warned = now
            log.warning(message, *args)


# The per-request callbacks below call their base class by name: a super() object per call
# showed in the read path's CPU per request.
_Base = AnswerHttpToolsProtocol


class GuardedProtocol(AnswerHttpToolsProtocol):
    """uvicorn's httptools protocol with :class:`HttpLimits`; see the module's docstring."""

    limits = HttpLimits()
    worker = _Worker()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Since when no request has been answered on this connection (0: one is).
        self.idle_since = 0.0
        self._head_since = 0.0  # when the head being read began (0: none is)
        self._head_bytes = 0
        self._in_head = False
        self._body_pending = False
        self._body_started = 0.0
        self._body_last = 0.0
        self._body_received = 0
        self._write_timer: asyncio.TimerHandle | None = None
        self._refused = False
        self._stopped = False

    # -- connections -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        worker = self.worker
        worker.start(self.loop, self.connections)
        if len(self.connections) >= self.limits.max_connections and not self._make_room():
            worker.warn("%d connections open, all busy: refusing new ones with 503",
                        len(self.connections))  # fmt: skip
            self._refused = True
            transport.write(TOO_MANY)
            transport.close()
            return
        super().connection_made(transport)
        # The first head is due header_timeout after the connection opens.
        self.idle_since = self._head_since = self.loop.time()

    def _make_room(self) -> bool:
        """Close the oldest connection no request is being answered on; False: none is."""
        oldest = self.worker.oldest_idle()
        if oldest is None:
            return False
        self.worker.warn("%d connections open: closing idle ones to make room",
                         len(self.connections))  # fmt: skip
        oldest.transport.close()
        # It leaves the set only once the loop tells it the connection is lost.
        self.connections.discard(oldest)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        if self._refused:  # never started: uvicorn knows nothing of it
            return
        super().connection_lost(exc)

    def check(self, now: float) -> None:
        """The sweep's look at this connection: a head or a body past its deadline."""
        if self._stopped or self._refused or self.transport.is_closing():
            return
        limits = self.limits
        if self._head_since and now - self._head_since >= limits.header_timeout:
            if self._in_head:
                self._refuse_head(408, "Request Timeout",
                                  HEAD_TOO_SLOW.format(limits.header_timeout))  # fmt: skip
            else:
                self._close()  # a connection that never sent anything
        elif self._body_pending:
            self._check_body(now)

    # -- the request head ------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        # Bytes since the end of the last request: a head, when one is being read.
        self._head_bytes += len(data)
        _Base.data_received(self, data)
        if self._in_head and self._head_bytes > self.limits.max_header_size and not (
            self._stopped or self.transport.is_closing()
        ):
            self._refuse_head(431, "Request Header Fields Too Large",
                              HEAD_TOO_LARGE.format(self.limits.max_header_size))  # fmt: skip

    def on_message_begin(self) -> None:
        if self._stopped:
            return
        _Base.on_message_begin(self)
        self._in_head = True
        if not self._head_since:
            self._head_since = self.worker.now

    def on_headers_complete(self) -> None:
        if self._stopped:
            return
        if self._head_bytes > self.limits.max_header_size and self._head_size() > (
            self.limits.max_header_size
        ):
            # The whole head came in one read: refused here, before the application sees it.
            self._refuse_head(431, "Request Header Fields Too Large",
                              HEAD_TOO_LARGE.format(self.limits.max_header_size))  # fmt: skip
            return
        self._in_head = False
        self._head_bytes = 0
        self._head_since = self.idle_since = 0.0
        self._body_pending = True
        self._body_started = self._body_last = self.worker.now
        _Base.on_headers_complete(self)

    def _head_size(self) -> int:
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    # -- the request body ------------------------------------------------------------------

    def on_body(self, body: bytes) -> None:
        if self._stopped:
            return
        self._body_received += len(body)
        self._body_last = self.worker.now
        _Base.on_body(self, body)

    def on_message_complete(self) -> None:
        if self._stopped:
            return
        self._head_bytes = 0
        self._body_pending = False
        self._body_received = 0
        _Base.on_message_complete(self)

    def _check_body(self, now: float) -> None:
        timeout, rate = self.limits.request_timeout, self.limits.min_body_rate
        if self.flow.read_paused:
            # The server is not reading (the application is busy): not the client's fault.
            # The clocks start again from now.
            self._body_last = now
            self._body_started = now - self._body_received / rate
            return
        deadline = min(self._body_last + timeout,
                       self._body_started + timeout + self._body_received / rate)  # fmt: skip
        if now < deadline:
            return
        cycle = self.cycle
        message = BODY_TOO_SLOW.format(timeout, rate)
        if cycle is not None and cycle.response_started:
            log.info("%s: %s", self._who(), message)
            self._close()  # answered already (or answering): nothing more to say
            return
        if cycle is not None:
            # The application's writes go nowhere from now on, and its next receive() says
            # the client is gone.
            cycle.disconnected = True
            cycle.message_event.set()
        self._answer_and_close(408, "Request Timeout", message)

    # -- the answer ------------------------------------------------------------------------

    def on_response_complete(self) -> None:
        _Base.on_response_complete(self)
        if not self.pipeline:
            self.idle_since = self.loop.time()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(self.limits.request_timeout,
                                                     self._write_timeout)  # fmt: skip

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _write_timeout(self) -> None:
        self._write_timer = None
        log.info("%s stopped reading its answer for %g s; connection closed", self._who(),
                 self.limits.request_timeout)  # fmt: skip
        self.transport.abort()

    # -- refusing --------------------------------------------------------------------------

    def _who(self) -> str:
        return self.client[0] if self.client else "a client"

    def _refuse_head(self, status: int, reason: str, message: str) -> None:
        """Refuse the request whose head is being read, and close the connection."""
        cycle = self.cycle  # the previous request's, on a kept-alive connection
        if cycle is not None and not cycle.response_complete:
            log.info("%s: %s", self._who(), message)
            self._close()  # pipelined behind an unfinished answer: no room for ours
        else:
            self._answer_and_close(status, reason, message)

    def _answer_and_close(self, status: int, reason: str, message: str) -> None:
        log.info("%s: %d %s", self._who(), status, message)
        self.transport.write(_response(status, reason, message))
        self._close()

    def _close(self) -> None:
        self._stopped = True  # the parser may go on with the rest of this read: ignore it
        self._in_head = self._body_pending = False
        self._head_since = 0.0
        self.transport.close()


def guarded_protocol(limits: HttpLimits) -> type[GuardedProtocol]:
    """The protocol class a worker hands to uvicorn (``http=``), with these limits."""
    return type("GuardedProtocol", (GuardedProtocol,), {"limits": limits, "worker": _Worker()})


__all__ = ["GuardedProtocol", "HttpLimits", "guarded_protocol", "raise_fd_limit"]
