"""uvicorn's httptools protocol, writing the reason phrase of :mod:`pubkit.server.reason`.

uvicorn writes ``HTTP/1.1 <status> <standard phrase>`` with both of its HTTP/1.1 protocols
(h11 and httptools) and gives the application no say in the phrase. The patch point is the
one method of uvicorn's httptools protocol that hands a request's cycle to the application
(``_start_asgi_task``, pipelined requests included): the cycle's ``send`` is wrapped so that,
for a response start carrying :data:`~pubkit.server.reason.REASON_KEY`, the status line of
the one write that sends the head gets that phrase. Everything else is uvicorn's own code.
The h11 protocol has no such method; pubkit runs httptools. On a uvicorn without it, the
server answers with the standard phrases (the body carries the message as always).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pubkit.server.reason import REASON_KEY

_PATCH_POINT = "_start_asgi_task"
PATCHABLE = callable(getattr(HttpToolsProtocol, _PATCH_POINT, None))
if not PATCHABLE:  # pragma: no cover - a uvicorn this code does not know
    logging.getLogger("pubkit.server").warning(
        "this uvicorn has no %s: refusals carry the standard reason phrase", _PATCH_POINT
    )


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


def _send_with_reason(cycle: Any) -> Callable[[Any], Awaitable[None]]:
    send: Callable[[Any], Awaitable[None]] = cycle.send

    async def send_with_reason(message: Any) -> None:
        reason = message.get(REASON_KEY) if message["type"] == "http.response.start" else None
        if not reason or cycle.response_started:
            await send(message)
            return
        transport = cycle.transport
        cycle.transport = _StatusLineTransport(transport, reason)
        try:
            await send(message)
        finally:
            cycle.transport = transport

    return send_with_reason


class ReasonHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with the application's reason phrase."""

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        # run_asgi calls `self.send`: an attribute of the cycle overrides the method.
        cycle.send = _send_with_reason(cycle)
        super()._start_asgi_task(cycle, app)
