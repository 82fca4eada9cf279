"""The web interface under ``/ui/``: server-rendered pages (Jinja2) and plain forms over the
same operations and policy as the admin API and the CLI (docs/architecture.md, "Web UI")."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from pubkit.errors import AuthenticationError, PubkitError, RateLimitedError
from pubkit.server.asgi import CLIENT_GONE, error_headers
from pubkit.server.services import Services, services_of
from pubkit.server.web import manage, pages
from pubkit.server.web.render import SECURITY_HEADERS, Page, page
from pubkit.server.web.session import visitor

log = logging.getLogger("pubkit.server")

READ = ["GET", "HEAD"]
POST = ["POST"]


async def _error_page(request: Request, status: int, message: str,
                      headers: dict[str, str] | None = None) -> Response:  # fmt: skip
    try:
        context = (await visitor(request)).page(message=message, status=status)
    except PubkitError:  # the catalog is what failed: a page without the visitor's name
        context = Page(request, values={"message": message, "status": status})
    context.flash = None
    return page("error.html", context, status, headers)


async def _pubkit_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PubkitError)
    if isinstance(exc, AuthenticationError) and request.method in READ:
        return RedirectResponse("/ui/signin", status_code=303, headers=SECURITY_HEADERS)
    headers = {name.decode(): value.decode() for name, value in error_headers(exc, "page")
               if name != b"www-authenticate"}  # fmt: skip
    if isinstance(exc, RateLimitedError):
        headers["retry-after"] = str(exc.retry_after)
    return await _error_page(request, exc.http_status, exc.message, headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: "There is no such page.",
               405: "This page does not answer this method."}.get(exc.status_code, exc.detail)
    return await _error_page(request, exc.status_code, message, dict(exc.headers or {}))


async def _client_gone(_request: Request, _exc: Exception) -> Response:
    return PlainTextResponse("the client closed the request\n", status_code=CLIENT_GONE)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("page %s failed: %r", request.url.path, exc)
    return await _error_page(request, 500, "The server failed; its log says why.")


Endpoint = Callable[[Request], Awaitable[Response]]


def _reads(endpoint: Endpoint) -> Endpoint:
    """A page that only reads: the catalog serial its checks ask for is read once."""

    @functools.wraps(endpoint)
    async def page(request: Request) -> Response:
        with services_of(request).catalog.one_serial():
            return await endpoint(request)

    return page


def routes() -> list[Route | Mount]:
    return [
        Route("/", _reads(pages.browse), methods=READ, name="browse"),
        Route("/project/{project}/", _reads(pages.project), methods=READ, name="project"),
        Route("/project/{project}/{action:str}", pages.project_action, methods=POST),
        Route("/signin", _reads(pages.signin_page), methods=READ, name="signin"),
        Route("/signin", pages.signin, methods=POST),
        Route("/signout", pages.signout, methods=POST),
        Route("/account", _reads(pages.account), methods=READ, name="account"),
        Route("/account/{action:str}", pages.account_action, methods=POST),
        Route("/admin/users", _reads(manage.users), methods=READ, name="users"),
        Route("/admin/users/{action:str}", manage.user_action, methods=POST),
        Route("/admin/groups", _reads(manage.groups), methods=READ, name="groups"),
        Route("/admin/groups/{action:str}", manage.group_action, methods=POST),
        Route("/admin/audit", _reads(manage.audit), methods=READ, name="audit"),
        Mount("/static", StaticFiles(packages=[("pubkit.server.web", "static")]),
              name="static"),
    ]  # fmt: skip


def create_ui(services: Services) -> Starlette:
    ui = Starlette(
        routes=routes(),
        exception_handlers={
            PubkitError: _pubkit_error,
            HTTPException: _http_error,
            ClientDisconnect: _client_gone,
            Exception: _server_error,
        },
    )
    ui.state.services = services
    return ui


def mount(services: Services) -> Mount:
    """What :func:`pubkit.server.app.create_app` adds to its routes."""
    return Mount("/ui", app=create_ui(services))


__all__ = ["mount"]
