"""The ``/simple/`` endpoints as a bare ASGI app.

This is the hottest path of the server (pip and uv read a project page for every requirement
they resolve), so it skips the framework: one pass over the headers, a cached page, one send.
"""

from __future__ import annotations

import functools
from urllib.parse import parse_qs, quote

from pubkit.core.distributions import is_normalized, normalize_name
from pubkit.server.asgi import (
    ReadOnlyApp,
    Scope,
    Send,
    header,
    send_response,
    send_text,
)
from pubkit.server.auth.tokens import Principal
from pubkit.server.catalog import Catalog
from pubkit.server.services import Services
from pubkit.server.simple import (
    SERVED_TYPES,
    ProjectPage,
    RenderedPage,
    build_project_page,
    negotiate,
)
from pubkit.server.upstream.index import LOCAL, TRACKED

PREFIX = "/simple/"
CACHE_CONTROL = b"max-age=0, must-revalidate"
VARY = b"Accept, Authorization"
# On a page served while the catalog does not answer: what this worker last knew.
STALE = (b"x-pubkit-stale", b"the catalog is not answering; this page may be out of date")


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return etag in (tag.strip().removeprefix("W/") for tag in if_none_match.split(","))


def _content_type(media_type: str) -> bytes:
    return (media_type + "; charset=utf-8" if media_type == "text/html" else media_type).encode()


CONTENT_TYPES = {media_type: _content_type(media_type) for media_type in SERVED_TYPES}


def _page_headers(page: RenderedPage) -> tuple[tuple[bytes, bytes], ...]:
    """The headers of every answer with ``page`` (but its content type): made once a page."""
    headers = page.headers
    if headers is None:
        headers = page.headers = (
            (b"etag", page.etag.encode()),
            (b"cache-control", CACHE_CONTROL),
            (b"vary", VARY),
            (b"x-pypi-last-serial", str(page.last_serial).encode()),
        )
    return headers


async def send_page(
    scope: Scope, send: Send, page: RenderedPage, stale: bool = False,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:  # fmt: skip
    headers = [*_page_headers(page)]
    if stale:
        headers.append(STALE)
    if extra:
        headers.extend(extra)
    if _matches(header(scope, b"if-none-match"), page.etag):
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    headers.append((b"content-type", CONTENT_TYPES.get(page.media_type)
                    or _content_type(page.media_type)))  # fmt: skip
    await send_response(send, 200, page.body, headers, include_body=scope["method"] != "HEAD")


def _media_type(scope: Scope) -> str | None:
    query = scope.get("query_string", b"")
    if query:
        # PEP 691 lets a client that cannot set headers ask with ?format=.
        requested = parse_qs(query.decode("latin-1")).get("format")
        if requested:
            return negotiate(requested[0].replace(" ", "+"))
    return negotiate(header(scope, b"accept"))


async def _redirect(scope: Scope, send: Send, location: str) -> None:
    query = scope.get("query_string", b"")
    target = location + ("?" + query.decode("latin-1") if query else "")
    await send_text(send, 301, f"moved to {target}", [(b"location", target.encode("latin-1"))])


class SimpleApp(ReadOnlyApp):
    served = "the simple API is"
    action = "simple API request"

    def __init__(self, services: Services) -> None:
        self.services = services

    async def _handle(self, scope: Scope, send: Send) -> None:
        path: str = scope["path"]
        if path == PREFIX.rstrip("/"):
            await _redirect(scope, send, PREFIX)
            return
        rest = path[len(PREFIX) :]
        name, slash, deeper = rest.partition("/")
        if deeper:
            await send_text(send, 404, f"{path} is not a page of the simple API")
            return
        media_type = _media_type(scope)
        if name and (not slash or not is_normalized(name)):
            # Relative, so that the index also works behind a path prefix.
            target = (
                f"../{quote(normalize_name(name))}/" if slash else f"{quote(normalize_name(name))}/"
            )
            await _redirect(scope, send, target)
            return
        # One serial read per request: everything below is decided as of that moment. When the
        # catalog does not answer in time, the pages this worker has are served, marked stale.
        services = self.services
        current = services.serials.now() or await services.serials.current()
        serial, stale = current.value, not current.fresh
        principal = await services.reader(scope, name or None, serial, stale)
        if media_type is None:
            await send_text(
                send,
                406,
                "none of the media types in Accept is served here; accept one of "
                + ", ".join(SERVED_TYPES),
            )
            return
        calls = services.catalog_calls
        if not name:
            shown = await calls.offload(
                services.permissions.readable_private, principal, serial, stale=stale
            )
            listing = services.upstream.listing if services.upstream is not None else None
            if listing is not None:  # --upstream-list-cached
                scan = listing.current()
                listed = listing.cached_index if stale else functools.partial(
                    listing.index, services.pages)  # fmt: skip
                await send_page(scope, send, await calls.offload(
                    listed, media_type, shown, serial, scan, stale=stale), stale)  # fmt: skip
                return
            index = services.pages.cached_index if stale else services.pages.index
            await send_page(scope, send, await calls.offload(index, media_type, shown, serial,
                                                             stale=stale), stale)  # fmt: skip
            return
        if services.upstream is not None:
            upstream = await self._upstream_page(scope, send, name, media_type, serial, stale,
                                                  principal)  # fmt: skip
            if upstream:
                return
        page = services.pages.current_project(name, media_type, serial)
        if page is None:
            project = services.pages.cached_project if stale else services.pages.project
            page = await calls.offload(project, name, media_type, serial, stale=stale)
        if page is None:
            raise await self.services.absent(scope, principal, name, serial, stale)
        await send_page(scope, send, page, stale)

    async def _upstream_page(
        self, scope: Scope, send: Send, name: str, media_type: str, serial: int, stale: bool,
        principal: Principal | None,
    ) -> bool:  # fmt: skip
        """Answer for a name the upstream serves (True), or leave it to the local path."""
        services = self.services
        upstream = services.upstream
        assert upstream is not None
        page = upstream.current(name, media_type, serial)
        if page is not None:
            await send_page(scope, send, page, stale)
            return True
        calls = services.catalog_calls
        decision = upstream.known_decision(name, serial)
        if decision is None:
            decision = await calls.offload(upstream.decide, name, serial, stale=stale)
        if decision == LOCAL:
            return False
        local = None
        if decision == TRACKED:
            local = await calls.offload(local_page, services.catalog, name, stale=stale)
        lookup = await upstream.pages.get(name)
        page = upstream.render(name, media_type, serial, lookup, local)
        if page is None:
            raise await services.absent(scope, principal, name, serial, stale)
        extra = [upstream_stale(lookup.problem)] if lookup.stale and lookup.problem else None
        await send_page(scope, send, page, stale, extra)
        return True


def upstream_stale(problem: str) -> tuple[bytes, bytes]:
    """The header of a page served from the upstream cache while the upstream fails."""
    text = problem.encode("latin-1", "replace")[:300]
    return (b"x-pubkit-upstream-stale", text)


def local_page(catalog: Catalog, name: str) -> ProjectPage | None:
    """Blocking (catalog): the page model of a local project, for merging."""
    summary = catalog.project(name)
    if summary is None:
        return None
    return build_project_page(name, catalog.project_files(name), summary.last_serial)
