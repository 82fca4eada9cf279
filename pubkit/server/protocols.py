"""uvicorn's httptools protocol, writing the reason phrase of :mod:`pubkit.server.reason`.

uvicorn writes ``HTTP/1.1 <status> <standard phrase>`` with both of its HTTP/1.1 protocols
(h11 and httptools) and gives the application no say in the phrase. The protocol here notes
each request's cycle in its scope (a weak reference under :data:`CYCLE_KEY`, set once the
head is parsed, before the application runs; pipelined requests included), and
:func:`send_start` sends an answer's start through that cycle with its transport swapped for
the one write that sends the head, whose status line then gets the phrase. Everything else
is uvicorn's own code, and an answer without a phrase (every successful one) costs nothing
more than the weak reference. The h11 protocol has no such scope entry; pubkit runs
httptools. Served by anything else, answers carry the standard phrases (the body carries the
message as always).
"""

from __future__ import annotations

import weakref
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pubkit.server.asgi import Message, Scope, Send

CYCLE_KEY = "pubkit.cycle"


class _StatusLineTransport:
    """A cycle's transport for the write of one response head: its status line gets
    ``reason``; every other attribute is the transport's."""

    def __init__(self, transport: Any, reason: bytes) -> None:
        self._transport = transport
        self._reason: bytes | None = reason

    def write(self, data: bytes) -> None:
        end = data.find(b"\r\n")
        if self._reason is not None and data.startswith(b"HTTP/1.") and end > 0:
            version, status = data[:end].split(b" ", 2)[:2]
            data = b"%s %s %s%s" % (version, status, self._reason, data[end:])
            self._reason = None
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


async def send_start(scope: Scope, send: Send, start: Message, reason: bytes | None) -> None:
    """Send an ``http.response.start`` through ``send``; when the request came through
    :class:`ReasonHttpToolsProtocol`, its status line carries ``reason`` (if any)."""
    noted = scope.get(CYCLE_KEY) if reason else None
    cycle: Any = noted() if noted is not None else None
    # A uvicorn whose cycles lack these attributes gets the standard phrase.
    transport = getattr(cycle, "transport", None)
    if reason is None or transport is None or getattr(cycle, "response_started", True):
        await send(start)
        return
    cycle.transport = _StatusLineTransport(transport, reason)
    try:
        await send(start)
    finally:
        cycle.transport = transport


class ReasonHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with the application's reason phrase."""

    def on_headers_complete(self) -> None:
        HttpToolsProtocol.on_headers_complete(self)  # by name: no super() object per request
        # The cycle made for this head (none when the request upgrades): weakly, so that
        # a scope and its cycle do not hold each other (nothing for the collector to do).
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:
            self.scope[CYCLE_KEY] = weakref.ref(cycle)  # type: ignore[literal-required]
