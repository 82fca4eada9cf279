"""What every request passes through once: its id, the reason phrase of a refusal, its
metrics and its access line, in one bare ASGI middleware with one wrapper of ``send``.

Each of the four was its own middleware, each wrapping ``send`` again and timing the request
again; on the read path, whose requests take tens of microseconds of CPU, every such layer
showed (issue 12). Here the answer's start is looked at once: the request id is added to its
headers, an error answer's start is held until its first body chunk gives the reason phrase
(:mod:`pubkit.server.reason`), and when the request ends, one clock reading feeds the
metrics and the access line.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from time import perf_counter

from pubkit.server.asgi import ASGIApp, Message, Receive, Scope, Send, client_address
from pubkit.server.metrics import Metrics, count_request
from pubkit.server.protocols import REASON
from pubkit.server.reason import reason_of
from pubkit.server.request_log import REQUEST_ID_HEADER, RequestFacts, request_id
from pubkit.server.request_log import current as current_request

access_log = logging.getLogger("pubkit.access")
INFO = logging.INFO


class Observe:
    """The request id (the client's sane ``X-Request-ID`` or a new one, echoed in the
    answer's ``X-Request-ID`` and open in :data:`~pubkit.server.request_log.current` while
    the request runs), the reason phrase of answers with status 400 and up, the request's
    metrics (when ``metrics`` is given) and its access line: one JSON line with time,
    request id, method, path, status, bytes, duration, client, and the user (and token) it
    acted as."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                incoming = value.decode("latin-1")
                break
        facts = RequestFacts(request_id(incoming))
        echoed = (REQUEST_ID_HEADER, facts.request_id.encode())
        started = perf_counter()
        status = 500
        sent = 0
        held: Message | None = None

        async def observed(message: Message) -> None:
            nonlocal status, sent, held
            kind = message["type"]
            if kind == "http.response.body":
                body = message.get("body", b"")
                sent += len(body)
                if held is not None:
                    start, held = held, None
                    reason = reason_of(start["headers"], body)
                    if reason is not None:
                        start[REASON] = reason
                    await send(start)
            elif kind == "http.response.start":
                status = message["status"]
                # A copy: the application's message (and its header list) stay its own.
                message = {**message, "headers": [*message.get("headers", ()), echoed]}
                if status >= 400:
                    held = message  # sent with the first body chunk, which gives the phrase
                    return
            await send(message)

        context = current_request.set(facts)
        try:
            await self.app(scope, receive, observed)
        finally:
            current_request.reset(context)
            seconds = perf_counter() - started
            if self.metrics is not None:
                count_request(self.metrics, scope, status, seconds)
            if access_log.isEnabledFor(INFO):
                # Formatted by hand: this line is written for every request. The path, the
                # request id and the user come from the client: json.dumps escapes them.
                access_log.info(
                    '{"time":"%s","request_id":%s,"method":"%s","path":%s,"status":%d,'
                    '"bytes":%d,"ms":%.2f,"client":%s,"user":%s,"token":%s}',
                    datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                    json.dumps(facts.request_id),
                    scope["method"],
                    json.dumps(scope["path"]),
                    status,
                    sent,
                    seconds * 1000,
                    json.dumps(client_address(scope)),
                    json.dumps(facts.user),
                    json.dumps(facts.token),
                )


__all__ = ["Observe"]
