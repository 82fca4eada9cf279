"""ASGI types and the few bare-ASGI helpers the hot paths share."""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pubkit.errors import PubkitError, RateLimitedError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REALM = 'Basic realm="pubkit", charset="UTF-8"'


def header(scope: Scope, name: bytes) -> str | None:
    """One request header (``name`` in lowercase), decoded as latin-1 like HTTP does."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def send_response(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]],
    include_body: bool = True,
) -> None:
    """One complete response; ``include_body=False`` answers a HEAD with the GET's headers."""
    all_headers = [(b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body if include_body else b""})


def error_headers(error: PubkitError, what: str) -> list[tuple[bytes, bytes]]:
    """The headers an error answer carries (and the log line of a server-side failure):
    shared by the bare-ASGI apps and the framework's exception handler."""
    if error.http_status >= 500:
        logging.getLogger("pubkit.server").error("%s failed: %s", what, error.message)
    headers = []
    if error.http_status == 401:
        headers.append((b"www-authenticate", REALM.encode()))
    if error.http_status == 413:
        # The rest of a too-large body is not worth reading: close instead.
        headers.append((b"connection", b"close"))
    if isinstance(error, RateLimitedError):
        headers.append((b"retry-after", str(error.retry_after).encode()))
    return headers


async def send_error(send: Send, error: PubkitError, what: str) -> None:
    """Answer with the error's status and one-line message."""
    await send_text(send, error.http_status, error.message, error_headers(error, what))


class ReadOnlyApp:
    """An ASGI app that only reads: methods other than GET and HEAD get 405 naming
    :attr:`served`, and a PubkitError its status and one line (about :attr:`action`)."""

    served = "this path is"
    action = "request"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if scope["method"] in ("GET", "HEAD"):
                await self._handle(scope, send)
            else:
                await send_text(send, 405, f"{self.served} read-only; upload to the server root",
                                [(b"allow", b"GET, HEAD")])  # fmt: skip
        except PubkitError as error:
            await send_error(send, error, self.action)

    async def _handle(self, scope: Scope, send: Send) -> None:
        raise NotImplementedError


async def send_text(
    send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), *(extra or [])]
    await send_response(send, status, message.encode() + b"\n", headers)


async def send_redirect(send: Send, location: str) -> None:
    """302 to ``location`` (a presigned storage URL), asked again next time: the URL expires."""
    extra = [(b"location", location.encode()), (b"cache-control", b"private, no-cache")]
    await send_text(send, 302, "the file is served by the storage", extra)


# nginx's "client closed request": what the access log records for an abandoned request.
CLIENT_GONE = 499


def log_client_gone(client: str | None, method: str, path: str) -> None:
    """A client that went away mid-request: an info line, not a server error."""
    logging.getLogger("pubkit.server").info("%s went away during %s %s; request abandoned",
                                            client or "a client", method, path)  # fmt: skip


UNKNOWN_ADDRESS = "unknown"


def client_address(scope: Scope) -> str | None:
    """The client's IP address, normalized; None without one. With trusted proxies the
    address comes from X-Forwarded-For, which the proxy's client wrote: anything that is not
    an IP address there is :data:`UNKNOWN_ADDRESS`, never the text itself (it goes to the
    audit table, the logs and the sign-in pacing keys)."""
    client = scope.get("client")
    if not client:
        return None
    return valid_address(client[0])


@functools.lru_cache(maxsize=4096)
def valid_address(host: object) -> str:
    if not isinstance(host, str) or len(host) > 64:
        return UNKNOWN_ADDRESS
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return UNKNOWN_ADDRESS


_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def _same_host(origin: str, host: str | None, scheme: str) -> bool:
    from urllib.parse import urlsplit

    if not host:
        return False
    parts = urlsplit(origin)
    netloc = parts.netloc.lower().removesuffix(_DEFAULT_PORTS.get(parts.scheme, "\0"))
    return bool(netloc) and netloc == host.lower().removesuffix(_DEFAULT_PORTS.get(scheme, "\0"))


def cross_site(scope: Scope) -> bool:
    """Whether a browser sent this request on another site's behalf: its Origin names
    another host than the one asked (``null`` included), or, without an Origin, its
    Sec-Fetch-Site says ``cross-site`` or ``same-site``. Clients that are not browsers
    (twine, uv, pip, curl, the admin client) send neither header."""
    origin = header(scope, b"origin")
    if origin is not None:
        return not _same_host(origin, header(scope, b"host"), scope.get("scheme", "http"))
    return header(scope, b"sec-fetch-site") in ("cross-site", "same-site")


CROSS_SITE_REFUSAL = (
    "cross-site requests may not change anything here; use twine, uv or the pubkit admin"
    " client (browsers' cross-site writes are refused)"
)

