"""The admin operations of a running pubkit server, through its admin HTTP API.

:class:`AdminClient` implements :class:`~pubkit.core.accounts.AdminOperations` over
``/api/v1`` (``docs/admin-api-contract.md``) with ``requests`` only, so a plain
``pip install pubkit`` (no server extra) can administer a remote index.

Credentials come from the environment, first match wins:

1. ``PUBKIT_ADMIN_TOKEN``, sent as ``Authorization: Bearer``;
2. ``PUBKIT_ADMIN_USERNAME`` + ``PUBKIT_ADMIN_PASSWORD``, sent as HTTP Basic.

The server's answers become pubkit's errors (400 usage, 401 authentication, 403 permission,
404 not found, 409 already exists, 429 rate limited), with the server's one-line message;
anything else (5xx, no connection, a timeout, an answer that is not the API's JSON) becomes
an :class:`AdminServerError` naming the URL. Messages name where credentials came from, never
the credentials themselves.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import requests
import requests.auth

from pubkit.core.accounts import (
    GROUP_PREFIX,
    AuditEntry,
    Group,
    ProjectInfo,
    Token,
    UserInfo,
)
from pubkit.core.retention import PruneResult, RetentionPolicy
from pubkit.errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
    PubkitError,
    RateLimitedError,
    UsageError,
)
from pubkit.settings import redact_url

API_PATH = "api/v1"
TOKEN_VARIABLE = "PUBKIT_ADMIN_TOKEN"  # noqa: S105 - a variable's name, not a secret
USERNAME_VARIABLE = "PUBKIT_ADMIN_USERNAME"
PASSWORD_VARIABLE = "PUBKIT_ADMIN_PASSWORD"  # noqa: S105 - a variable's name, not a secret
# The shape of a token (pubkit_<16 hex id>_<secret>) and of a token id: a token given to
# `revoke` is reduced to its id, so that its secret never travels in a URL (or an access log).
_TOKEN = re.compile(r"^pubkit_(?P<id>[0-9a-f]{16})_[A-Za-z0-9_-]+$")
_TOKEN_ID = re.compile(r"^[0-9a-f]{16}$")
_MESSAGE_LIMIT = 500

T = TypeVar("T")


class AdminServerError(PubkitError):
    """The admin API could not be asked or answered something unusable (network, 5xx)."""


class AdminAuth(requests.auth.AuthBase):
    """Admin credentials for requests: a Bearer token or a user name and password.

    ``source`` says where they came from, for messages; ``repr`` never shows the secret.
    """

    def __init__(self, secret: str, username: str | None = None, source: str = "") -> None:
        self._secret = secret
        self.username = username
        self.source = source

    @classmethod
    def bearer(cls, token: str, source: str = TOKEN_VARIABLE) -> AdminAuth:
        return cls(token.strip(), None, source)

    @classmethod
    def basic(
        cls, username: str, password: str,
        source: str = f"{USERNAME_VARIABLE} and {PASSWORD_VARIABLE}",
    ) -> AdminAuth:  # fmt: skip
        return cls(password, username, source)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.username is None:
            request.headers["Authorization"] = f"Bearer {self._secret}"
        else:
            pair = f"{self.username}:{self._secret}".encode()
            request.headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
        return request

    def __repr__(self) -> str:
        kind = "bearer token" if self.username is None else f"user {self.username!r}"
        return f"AdminAuth({kind} from {self.source or 'the caller'})"


def auth_from_environment(environ: Mapping[str, str] | None = None) -> AdminAuth:
    """The admin credentials the environment holds; ConfigurationError when it holds none."""
    environ = os.environ if environ is None else environ
    token = environ.get(TOKEN_VARIABLE, "").strip()
    if token:
        if not (token.isascii() and token.isprintable()) or " " in token:
            raise ConfigurationError(
                f"{TOKEN_VARIABLE} holds characters no token has; set it to the text"
                " `pubkit token create` printed"
            )
        return AdminAuth.bearer(token)
    username = environ.get(USERNAME_VARIABLE, "")
    password = environ.get(PASSWORD_VARIABLE, "")
    if username and password:
        return AdminAuth.basic(username, password)
    if username or password:
        missing = PASSWORD_VARIABLE if username else USERNAME_VARIABLE
        raise ConfigurationError(
            f"{missing} is not set: set both {USERNAME_VARIABLE} and {PASSWORD_VARIABLE},"
            f" or {TOKEN_VARIABLE}"
        )
    raise ConfigurationError(
        f"--server needs admin credentials: set {TOKEN_VARIABLE}, or {USERNAME_VARIABLE} and"
        f" {PASSWORD_VARIABLE}"
    )


def _segment(value: str) -> str:
    """One path segment, every reserved character escaped (``/`` too)."""
    return quote(value, safe="")


def _token_id(token_or_id: str) -> str:
    value = token_or_id.strip()
    match = _TOKEN.match(value)
    if match:
        return match["id"]
    if _TOKEN_ID.match(value):
        return value
    # Not echoed: what does not look like an id may be a mangled secret.
    raise NotFoundError("that is neither a token id nor a token; `pubkit token list` shows the ids")


class AdminClient:
    """:class:`~pubkit.core.accounts.AdminOperations` of the pubkit server at ``url`` (its
    root, e.g. ``https://pypi.example.com/``), signed in with ``auth``."""

    def __init__(
        self,
        url: str,
        auth: AdminAuth,
        session: requests.Session | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
    ) -> None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                f"server URL {redact_url(url)!r} must be http:// or https:// and name a host,"
                " e.g. https://pypi.example.com/"
            )
        root = url.strip()
        self.url = root if root.endswith("/") else root + "/"
        self.api_url = self.url + API_PATH
        self.shown = redact_url(self.url)
        self.auth = auth
        self.session = session or requests.Session()
        self.timeout = (connect_timeout, timeout)

    @classmethod
    def from_environment(
        cls, url: str, environ: Mapping[str, str] | None = None, **options: Any
    ) -> AdminClient:
        return cls(url, auth_from_environment(environ), **options)

    # -- transport ---------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None,
        params: dict[str, str | int] | None = None,
    ) -> Any:  # fmt: skip
        """The decoded JSON of a successful answer (None for 204); errors mapped."""
        url = f"{self.api_url}/{path}"
        try:
            response = self.session.request(
                method, url, json=body, params=params, auth=self.auth, timeout=self.timeout,
                headers={"Accept": "application/json"}, allow_redirects=False,
            )  # fmt: skip
        except requests.ConnectTimeout:
            raise AdminServerError(
                f"could not connect to the pubkit server at {self.shown} within"
                f" {self.timeout[0]:g}s; check --server (or PUBKIT_SERVER_URL) and the network"
            ) from None
        except requests.Timeout:
            raise AdminServerError(
                f"the pubkit server at {self.shown} did not answer within"
                f" {self.timeout[1]:g}s; check that it is up (its /ready) and re-run"
            ) from None
        except requests.exceptions.SSLError:
            raise AdminServerError(
                f"could not verify the TLS certificate of {self.shown}; check the URL, or point"
                " REQUESTS_CA_BUNDLE at your certificate authority's bundle"
            ) from None
        except requests.ConnectionError:
            raise AdminServerError(
                f"could not connect to the pubkit server at {self.shown}; check --server"
                " (or PUBKIT_SERVER_URL) and that the server is running"
            ) from None
        except requests.RequestException as error:
            raise AdminServerError(
                f"could not ask the pubkit server at {self.shown} ({type(error).__name__});"
                " check --server and the network, then re-run"
            ) from None
        if response.status_code == 204:
            return None
        data = self._json(response)
        if response.status_code < 300 and data is not _NOT_JSON:
            return data
        raise self._error(response, data)

    def _json(self, response: requests.Response) -> Any:
        if not response.headers.get("content-type", "").startswith("application/json"):
            return _NOT_JSON
        try:
            return response.json()
        except ValueError:
            return _NOT_JSON

    def _error(self, response: requests.Response, data: Any) -> PubkitError:
        """The error an unsuccessful (or unusable) answer means."""
        status = response.status_code
        message = _error_message(data)
        if message is None:
            if status == 404:
                return AdminServerError(
                    f"{self.shown} has no pubkit admin API (404 for /{API_PATH}); --server must"
                    " be the root URL of a pubkit server that has one"
                )
            if status < 300:
                return AdminServerError(
                    f"{self.shown} answered {status} without the admin API's JSON; --server"
                    " must be the root URL of a pubkit server"
                )
            if 300 <= status < 400:
                return AdminServerError(
                    f"{self.shown} redirects the admin API ({status} to"
                    f" {redact_url(response.headers.get('location', '?'))}); pass the URL it"
                    " redirects to as --server"
                )
        if status == 400:
            return UsageError(message or "the server refused the request as malformed (400)")
        if status == 401:
            hint = f"check {self.auth.source}" if self.auth.source else "check the credentials"
            return AuthenticationError(
                f"{message or 'the server refused the admin credentials'} (401 from"
                f" {self.shown}); {hint}"
            )
        if status == 403:
            return PermissionDeniedError(
                message or "the server does not allow these credentials to do this (403)"
            )
        if status == 404:
            return NotFoundError(message or "not found (404)")
        if status == 409:
            return AlreadyExistsError(message or "it already exists (409)")
        if status == 429:
            retry_after = _retry_after(response.headers.get("retry-after"))
            return RateLimitedError(
                message or f"too many failed sign-ins; retry in {retry_after}s", retry_after
            )
        what = f": {message}" if message else ""
        advice = (
            "retry later; if it persists, check the server's log"
            if status >= 500
            else "check that --server is a pubkit server of this version"
        )
        return AdminServerError(f"the pubkit server at {self.shown} answered {status}{what};"
                               f" {advice}")  # fmt: skip

    def _parse(self, what: str, parse: Callable[[Any], T], data: Any) -> T:
        try:
            return parse(data)
        except (KeyError, TypeError, ValueError, AttributeError, AssertionError):
            raise AdminServerError(
                f"the pubkit server at {self.shown} sent {what} this client does not"
                " understand; use a pubkit client of the server's version"
            ) from None

    def _list(self, what: str, parse: Callable[[dict[str, Any]], T], data: Any) -> list[T]:
        def each(items: Any) -> list[T]:
            if not isinstance(items, list):
                raise TypeError(what)
            return [parse(item) for item in items]

        return self._parse(what, each, data)

    def _files(self, data: Any) -> int:
        def count(found: Any) -> int:
            files = found["files"]
            if not isinstance(files, int):
                raise TypeError("files")
            return files

        return self._parse("a file count", count, data)

    # -- users -------------------------------------------------------------------------------

    def users(self) -> list[UserInfo]:
        return self._list("users", UserInfo.from_json, self._call("GET", "users"))

    def add_user(self, name: str, password: str, is_admin: bool = False) -> UserInfo:
        data = self._call("POST", "users", {"name": name, "password": password,
                                            "admin": is_admin})  # fmt: skip
        return self._parse("a user", UserInfo.from_json, data)

    def remove_user(self, name: str) -> None:
        self._call("DELETE", f"users/{_segment(name)}")

    def set_password(self, name: str, password: str) -> None:
        self._call("PUT", f"users/{_segment(name)}/password", {"password": password})

    def set_admin(self, name: str, is_admin: bool) -> None:
        self._call("PUT", f"users/{_segment(name)}/admin", {"admin": is_admin})

    def set_disabled(self, name: str, disabled: bool) -> None:
        self._call("PUT", f"users/{_segment(name)}/disabled", {"disabled": disabled})

    # -- groups ------------------------------------------------------------------------------

    def groups(self) -> list[Group]:
        return self._list("groups", Group.from_json, self._call("GET", "groups"))

    def add_group(self, name: str) -> Group:
        data = self._call("POST", "groups", {"name": name.removeprefix(GROUP_PREFIX)})
        return self._parse("a group", Group.from_json, data)

    def remove_group(self, name: str) -> None:
        self._call("DELETE", f"groups/{_segment(name.removeprefix(GROUP_PREFIX))}")

    def add_member(self, group: str, user: str) -> None:
        self._call("PUT", self._member_path(group, user))

    def remove_member(self, group: str, user: str) -> None:
        self._call("DELETE", self._member_path(group, user))

    @staticmethod
    def _member_path(group: str, user: str) -> str:
        return f"groups/{_segment(group.removeprefix(GROUP_PREFIX))}/members/{_segment(user)}"

    # -- tokens ------------------------------------------------------------------------------

    def tokens(self, user: str | None = None) -> list[Token]:
        params: dict[str, str | int] | None = {"user": user} if user is not None else None
        return self._list("tokens", Token.from_json, self._call("GET", "tokens", params=params))

    def create_token(
        self, user: str, projects: tuple[str, ...] = (), permission: str = "upload",
        expires_in: timedelta | None = None, description: str | None = None,
    ) -> tuple[Token, str]:  # fmt: skip
        body: dict[str, Any] = {"user": user, "permission": permission}
        if projects:
            body["projects"] = list(projects)
        if expires_in is not None:
            body["expires_in"] = int(expires_in.total_seconds())
        if description is not None:
            body["description"] = description
        data = self._call("POST", "tokens", body)

        def created(found: Any) -> tuple[Token, str]:
            secret = found["secret"]
            if not isinstance(secret, str):
                raise TypeError("secret")
            return Token.from_json(found["token"]), secret

        return self._parse("a token", created, data)

    def revoke_token(self, token_or_id: str) -> Token:
        data = self._call("DELETE", f"tokens/{_segment(_token_id(token_or_id))}")
        return self._parse("a token", Token.from_json, data)

    # -- projects and roles ------------------------------------------------------------------

    def project(self, project: str) -> ProjectInfo:
        data = self._call("GET", f"projects/{_segment(project)}")
        return self._parse("a project", ProjectInfo.from_json, data)

    def grant(self, project: str, holder: str, role: str) -> None:
        self._call("PUT", f"projects/{_segment(project)}/roles/{_segment(holder)}",
                   {"role": role})  # fmt: skip

    def revoke(self, project: str, holder: str, role: str) -> None:
        path = f"projects/{_segment(project)}/roles/{_segment(holder)}/{_segment(role)}"
        self._call("DELETE", path)

    def set_private(self, project: str, private: bool) -> None:
        self._call("PUT", f"projects/{_segment(project)}/visibility", {"private": private})

    def _upstream_rule(self, project: str, **change: Any) -> bool:
        data = self._call("PUT", f"projects/{_segment(project)}/upstream", change)
        return bool(isinstance(data, dict) and data.get("changed"))

    def reserve(self, project: str, reserved: bool = True) -> bool:
        return self._upstream_rule(project, reserved=reserved)

    def track(self, project: str, tracked: bool) -> bool:
        return self._upstream_rule(project, tracked=tracked)

    def set_min_age(self, project: str, seconds: float | None) -> bool:
        # Whole seconds on the wire.
        return self._upstream_rule(project, min_age=None if seconds is None else round(seconds))

    def upstream_status(self, sources: list[str]) -> dict[str, Any]:
        """The server's own view (``sources`` are the server's, not these)."""
        data = self._call("GET", "upstream")
        if not isinstance(data, dict):
            raise AdminServerError(f"the pubkit server at {self.shown} answered no status")
        return data

    def prune_upstream(self, older_than: float, dry_run: bool = False) -> dict[str, Any]:
        data = self._call("POST", "upstream/prune",
                          {"older_than_seconds": round(older_than), "dry_run": dry_run})
        if not isinstance(data, dict):
            raise AdminServerError(f"the pubkit server at {self.shown} answered no report")
        return data

    # -- releases ----------------------------------------------------------------------------

    def _release_path(self, project: str, version: str) -> str:
        return f"projects/{_segment(project)}/releases/{_segment(version)}"

    def yank(self, project: str, version: str, reason: str | None, yanked: bool = True) -> int:
        path = self._release_path(project, version)
        if yanked:
            body: dict[str, Any] = {"reason": reason} if reason is not None else {}
            return self._files(self._call("POST", f"{path}/yank", body))
        return self._files(self._call("POST", f"{path}/unyank"))

    def delete_release(self, project: str, version: str) -> int:
        return self._files(self._call("DELETE", self._release_path(project, version)))

    def prune(self, policy: RetentionPolicy, dry_run: bool = False) -> PruneResult:
        body: dict[str, Any] = {"keep": policy.keep, "kinds": sorted(policy.kinds),
                                "projects": sorted(policy.projects),
                                "dry_run": dry_run}  # fmt: skip
        if policy.older_than is not None:
            body["older_than_seconds"] = int(policy.older_than.total_seconds())
        return self._parse("a prune result", PruneResult.from_json,
                           self._call("POST", "prune", body))  # fmt: skip

    # -- audit -------------------------------------------------------------------------------

    def audit(self, limit: int = 100) -> list[AuditEntry]:
        data = self._call("GET", "audit", params={"limit": limit})
        return self._list("audit entries", AuditEntry.from_json, data)


class _NotJson:
    def __repr__(self) -> str:
        return "<not JSON>"


_NOT_JSON: Any = _NotJson()


def _error_message(data: Any) -> str | None:
    """The server's ``{"error": ...}`` as one line, or None."""
    if not isinstance(data, dict):
        return None
    message = data.get("error")
    if not isinstance(message, str) or not message.strip():
        return None
    line = " ".join(message.split())
    return line if len(line) <= _MESSAGE_LIMIT else line[: _MESSAGE_LIMIT - 1] + "…"


def _retry_after(value: str | None) -> int:
    try:
        return max(1, int(value or ""))
    except ValueError:
        return 1
