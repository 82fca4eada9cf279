"""Who a browser is: a server-side session (``web_sessions``, its cookie HttpOnly,
SameSite=Strict, Secure behind TLS), and the CSRF token every form carries.

A signed-in page's CSRF token is an HMAC of the session's secret, so it is bound to that
session and never stored; the sign-in form, before any session, carries the value of a
random cookie of its own (double submit). Every POST is also refused when a browser says
another site sent it (:func:`pubkit.server.asgi.cross_site`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote, unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from pubkit.errors import AuthenticationError, PermissionDeniedError
from pubkit.server.api_schema import RequestError
from pubkit.server.asgi import CROSS_SITE_REFUSAL, client_address, cross_site
from pubkit.server.auth.policy import administers
from pubkit.server.auth.tokens import TOKEN_USERNAME, Principal
from pubkit.server.catalog import web as web_catalog
from pubkit.server.request_log import note_principal
from pubkit.server.services import Services, services_of
from pubkit.server.web.render import Page

SESSION_COOKIE = "pubkit_session"
CSRF_COOKIE = "pubkit_csrf"
FLASH_COOKIE = "pubkit_flash"
SESSION_LIFETIME = timedelta(hours=8)
MAX_FORM = 64 * 1024
PATH = "/ui"


class CsrfError(PermissionDeniedError):
    pass


@dataclass
class Visitor:
    """The browser of one request: its principal (None: anonymous) and its CSRF token."""

    request: Request
    services: Services
    principal: Principal | None
    secret: str | None  # the session cookie's value, when signed in
    csrf: str

    @property
    def address(self) -> str | None:
        return client_address(self.request.scope)

    def page(self, **values: object) -> Page:
        principal = self.principal
        flash = self.request.cookies.get(FLASH_COOKIE)
        return Page(self.request, principal.name if principal else None,
                    administers(self.services.permissions.policy, principal), self.csrf,
                    unquote(flash)[:300] if flash else None, dict(values))  # fmt: skip


def _csrf_of_session(secret: str) -> str:
    return hmac.new(secret.encode(), b"pubkit web form", hashlib.sha256).hexdigest()


async def visitor(request: Request) -> Visitor:
    services = services_of(request)
    secret = request.cookies.get(SESSION_COOKIE)
    principal = None
    if secret and len(secret) <= 100:
        user = await run_in_threadpool(web_catalog.session_user, services.catalog, secret)
        if user is not None:
            principal = Principal(user)
            note_principal(principal)
    if principal is None:
        secret = None
        csrf = request.cookies.get(CSRF_COOKIE) or ""
        if not (16 <= len(csrf) <= 100):
            csrf = secrets.token_urlsafe(24)
    else:
        assert secret is not None
        csrf = _csrf_of_session(secret)
    return Visitor(request, services, principal, secret, csrf)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def remember_csrf(visitor: Visitor, response: Response) -> Response:
    """An anonymous page with a form sets the cookie its CSRF token is checked against."""
    if visitor.principal is None and visitor.request.cookies.get(CSRF_COOKIE) != visitor.csrf:
        response.set_cookie(CSRF_COOKIE, visitor.csrf, path=PATH, httponly=True,
                            samesite="strict", secure=_secure(visitor.request))  # fmt: skip
    if FLASH_COOKIE in visitor.request.cookies:
        response.delete_cookie(FLASH_COOKIE, path=PATH)
    return response


def flash(response: Response, message: str, request: Request) -> Response:
    """A one-line message for the next page (the answer to a form is a redirect)."""
    response.set_cookie(FLASH_COOKIE, quote(message[:300]), path=PATH, httponly=True,
                        samesite="strict", secure=_secure(request))  # fmt: skip
    return response


async def form_of(visitor: Visitor) -> dict[str, str]:
    """A POST's form fields, once its origin and CSRF token are checked."""
    request = visitor.request
    if cross_site(request.scope):
        raise CsrfError(CROSS_SITE_REFUSAL)
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit() or int(declared) > MAX_FORM:
        raise RequestError("send a form of at most 64 kB", 413)
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise RequestError("send the page's form (application/x-www-form-urlencoded)",
                                    415)  # fmt: skip
    form = await request.form(max_files=0, max_fields=50)
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    sent = fields.pop("csrf", "")
    if not visitor.csrf or not hmac.compare_digest(sent.encode(), visitor.csrf.encode()):
        raise CsrfError("this form has expired or did not come from this site; reload the"
                        " page and send it again")  # fmt: skip
    return fields


async def sign_in(visitor: Visitor, name: str, password: str) -> tuple[Principal, str]:
    """Check a user's password as the API does (the same sign-in pacing and audit of
    failures) and open a session; its principal and cookie secret."""
    if not name or name == TOKEN_USERNAME or ":" in name:
        raise AuthenticationError("sign in with your user name and password")
    encoded = base64.b64encode(f"{name}:{password}".encode()).decode()
    services = visitor.services
    principal = await services.user_from(f"Basic {encoded}", visitor.address)
    if principal is None or principal.token is not None:
        raise AuthenticationError("sign in with your user name and password")
    secret, _expires = await run_in_threadpool(web_catalog.create_session, services.catalog,
                                               principal.user, SESSION_LIFETIME)  # fmt: skip
    return principal, secret


def set_session(response: Response, request: Request, secret: str) -> Response:
    response.set_cookie(SESSION_COOKIE, secret, max_age=int(SESSION_LIFETIME.total_seconds()),
                        path=PATH, httponly=True, samesite="strict",
                        secure=_secure(request))  # fmt: skip
    return response


async def sign_out(visitor: Visitor, response: Response) -> Response:
    if visitor.secret is not None:
        await run_in_threadpool(web_catalog.end_session, visitor.services.catalog,
                                visitor.secret)  # fmt: skip
    response.delete_cookie(SESSION_COOKIE, path=PATH, httponly=True, samesite="strict")
    return response
