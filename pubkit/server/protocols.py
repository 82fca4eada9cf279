"""uvicorn's httptools protocol with pubkit's own answer start: the application's reason
phrase in the status line, and the headers checked in one pass.

uvicorn writes ``HTTP/1.1 <status> <standard phrase>`` and gives the application no say in
the phrase; pubkit puts a refusal's message there too (:mod:`pubkit.server.reason`). It also
checks every answer header with two regular expressions, about half of the interpreter's
work on a ``/simple/`` page (issue 12). The protocol here gives each request's cycle the
class :class:`AnswerCycle`, whose ``send`` writes the start of an answer itself: the phrase
from the start message's :data:`REASON` entry (an extension key other servers ignore, so
that served by anything else, answers carry the standard phrases), the same checks of
header names and values done with ``bytes.translate``, and uvicorn's framing rules
(content-length, chunked, connection close). Bodies, and everything else, are uvicorn's own
code.
"""

from __future__ import annotations

import types
from typing import Any

from uvicorn.protocols.http import httptools_impl
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

# The start message's entry for the reason phrase (bytes, already safe for a status line).
REASON = "pubkit.reason"



def _marking(allowed: bytes) -> bytes:
    """A ``bytes.translate`` table keeping ``allowed`` and turning every other byte into NUL
    (never allowed), so that ``0 in header.translate(table)`` finds a bad byte."""
    return bytes(byte if byte in allowed else 0 for byte in range(256))


# Header names: RFC 9110's token characters. Values: what uvicorn accepts (tab, visible
# ASCII and space, obs-text).
_TOKEN = _marking(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_VALUE = _marking(bytes([9, *range(0x20, 0x7F), *range(0x80, 0x100)]))
_FRAMING = frozenset((b"content-length", b"transfer-encoding", b"connection"))


# A head is held for its body when the body is at most this long: one write, one system call.
HOLD_LIMIT = 64 * 1024


class AnswerCycle(RequestResponseCycle):
    """uvicorn's request/response cycle, starting its answer as described above. The head
    of an answer with a short body (content-length at most :data:`HOLD_LIMIT`) is held and
    written together with its first body chunk: one ``send`` system call instead of two.
    (An application that fails between the two then leaves the client a closed connection
    with nothing written, where uvicorn would have written the head first: a failed request
    to the client either way.)"""

    _held: bytes | None = None  # the head waiting for its body

    async def send(self, message: Any) -> None:
        """The ASGI ``send``: an answer's start made here (unless the client does not read:
        uvicorn waits for it); any other message, uvicorn's ``send``."""
        held = self._held
        if held is not None:
            self._held = None
            if message["type"] == "http.response.body":
                # uvicorn's body path writes it, counted against the length it expects.
                self.expected_content_length += len(held)
                message = {**message, "body": held + message.get("body", b"")}
            await RequestResponseCycle.send(self, message)
            return
        if self.response_started or message["type"] != "http.response.start":
            await RequestResponseCycle.send(self, message)
            return
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()  # as uvicorn: the client reads what is queued first
        if self.disconnected:
            return
        self.response_started = True
        self.waiting_for_100_continue = False
        status = message["status"]
        if self.access_log:  # uvicorn's line, when its access logger has somewhere to write
            scope = self.scope
            self.access_logger.info('%s - "%s %s HTTP/%s" %d', get_client_addr(scope),
                                    scope["method"], get_path_with_query_string(scope),
                                    scope["http_version"], status)  # fmt: skip
        line = STATUS_LINE[status]  # a status out of 100-599 fails here, as in uvicorn
        reason = message.get(REASON)
        if reason is not None:
            if 0 in reason.translate(_VALUE) or not reason:
                raise RuntimeError("Invalid HTTP reason phrase.")
            line = b"HTTP/1.1 %d %s\r\n" % (status, reason)
        content = [line]
        for name, value in self.default_headers:  # uvicorn's own: its date (pubkit adds none)
            content += (name, b": ", value, b"\r\n")
        close = False
        for name, value in message.get("headers", ()):
            if 0 in name.translate(_TOKEN) or not name:
                raise RuntimeError("Invalid HTTP header name.")
            if 0 in value.translate(_VALUE):
                raise RuntimeError("Invalid HTTP header value.")
            name = name.lower()
            if name in _FRAMING:
                close |= self._framing(name, value)
            content += (name, b": ", value, b"\r\n")
        if not self.keep_alive and not close:
            content.append(b"connection: close\r\n")
        if (
            self.chunked_encoding is None
            and self.scope["method"] != "HEAD"
            and status not in (204, 304)
        ):
            self.chunked_encoding = True
            content.append(b"transfer-encoding: chunked\r\n")
        content.append(b"\r\n")
        if (
            self.chunked_encoding is False
            and self.expected_content_length <= HOLD_LIMIT
            and self.scope["method"] != "HEAD"
        ):
            self._held = b"".join(content)
        else:
            self.transport.write(b"".join(content))

    def _framing(self, name: bytes, value: bytes) -> bool:
        """uvicorn's reading of the headers that frame the body; True: ``connection: close``."""
        if name == b"content-length":
            if self.chunked_encoding is None:
                self.expected_content_length = int(value.decode())
                self.chunked_encoding = False
        elif name == b"transfer-encoding":
            if value.lower() == b"chunked":
                self.expected_content_length = 0
                self.chunked_encoding = True
        elif b"close" in [token.lower().strip() for token in value.split(b",")]:
            self.keep_alive = False
            return True
        return False


def _making(cycle_class: type[RequestResponseCycle]) -> Any:
    """uvicorn's own ``HttpToolsProtocol.on_headers_complete`` (the installed version's code,
    not a copy of it) run with ``cycle_class`` where it makes a ``RequestResponseCycle``.

    Changing the class of a cycle once made would cost more than it saves: CPython keeps an
    instance's attributes inline only for the class it was made with. The function's globals
    are a copy of the module's taken at import: a later patch of ``httptools_impl`` (a test's,
    an instrumentation's) does not reach it.

    It also checks that the cycle's ``keep_alive`` comes from the parser (uvicorn 0.53+,
    which honours a request's ``Connection: close`` there; older versions did it in the
    ``send`` that :class:`AnswerCycle` replaces).
    """
    original = HttpToolsProtocol.on_headers_complete
    names = original.__code__.co_names
    if "RequestResponseCycle" not in names or "should_keep_alive" not in names:
        raise RuntimeError("pubkit needs uvicorn 0.53 or later; upgrade uvicorn")
    scope = {**vars(httptools_impl), "RequestResponseCycle": cycle_class}
    return types.FunctionType(original.__code__, scope, original.__name__,
                              original.__defaults__, original.__closure__)  # fmt: skip


class AnswerHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, whose cycles are :class:`AnswerCycle` objects."""

    on_headers_complete = _making(AnswerCycle)
