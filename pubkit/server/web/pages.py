"""The pages anyone may see (the policy permitting): browse and search, a project, sign-in
and sign-out, and a signed-in user's own account (password and tokens)."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import timedelta
from typing import Any

from packaging.version import Version
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pubkit.core.distributions import normalize_name
from pubkit.errors import AuthenticationError, PubkitError, RateLimitedError
from pubkit.server.auth.policy import Action, hidden
from pubkit.server.catalog import web as web_catalog
from pubkit.server.layout import FileRecord, metadata_key
from pubkit.server.web.actions import allowed, invoke, may
from pubkit.server.web.render import Described, described, page
from pubkit.server.web.session import Visitor as Visitor
from pubkit.server.web.session import (
    flash,
    form_of,
    remember_csrf,
    set_session,
    sign_in,
    sign_out,
    visitor,
)

PER_PAGE = 50


def done(request: Request, target: str, message: str) -> Response:
    """A form's success: back to ``target`` (a path of ours) with ``message``."""
    return flash(RedirectResponse(target, status_code=303), message, request)


def readable(visit: Visitor) -> frozenset[str] | None:
    """The private projects the visitor may read; None when that is every one of them (an
    administrator: the listings then need no filter). In a worker thread."""
    permissions = visit.services.permissions
    found = permissions.readable_private(visit.principal)
    if found and found == permissions.private_projects():
        return web_catalog.EVERY_PROJECT
    return found


# -- browse --------------------------------------------------------------------------------


async def browse(request: Request) -> Response:
    visit = await visitor(request)
    query = request.query_params.get("q", "")[: web_catalog.MAX_QUERY]
    number = request.query_params.get("page", "1")
    current = int(number) if number.isdigit() and 0 < int(number) < 100000 else 1
    found = await run_in_threadpool(_search, visit, query, current)
    pages = max(1, -(-found.total // PER_PAGE))
    return remember_csrf(visit, page("browse.html", visit.page(
        query=query, found=found, current=current, pages=pages)))  # fmt: skip


def _search(visit: Visitor, query: str, current: int) -> web_catalog.Found:
    visit.services.permissions.check(visit.principal, Action.READ)
    return web_catalog.search_projects(visit.services.catalog, query, readable(visit),
                                       PER_PAGE, (current - 1) * PER_PAGE)  # fmt: skip


# -- a project -----------------------------------------------------------------------------


async def project_files(visit: Visitor, name: str) -> list[FileRecord]:
    """The project's files if the visitor may read it; otherwise (or if it has none) the
    answer a project that is not on this index gets, the same for both."""
    return await run_in_threadpool(_readable_files, visit, name)


def _readable_files(visit: Visitor, name: str) -> list[FileRecord]:
    permissions = visit.services.permissions
    permissions.check(visit.principal, Action.READ)  # the index: may say "sign in"
    try:
        permissions.check(visit.principal, Action.READ, name)
    except (AuthenticationError, PubkitError) as error:
        if error.http_status in (401, 403, 404):
            raise hidden(name) from None
        raise
    files = visit.services.catalog.project_files(name)
    if not files:
        raise hidden(name)
    return files


def _releases(files: list[FileRecord]) -> list[tuple[str, list[FileRecord]]]:
    by_version: dict[str, list[FileRecord]] = defaultdict(list)
    for record in files:
        by_version[record.version].append(record)
    ordered = sorted(by_version.items(), key=lambda item: Version(item[0]), reverse=True)
    return [(version, sorted(records, key=lambda r: r.filename)) for version, records in ordered]


def _newest(releases: list[tuple[str, list[FileRecord]]]) -> tuple[str, list[FileRecord]]:
    """The release a project page describes: the newest with a file not yanked (else the
    newest), final releases before pre-releases."""
    def rank(item: tuple[str, list[FileRecord]]) -> tuple[bool, bool, Version]:
        version = Version(item[0])
        return (any(not r.yanked for r in item[1]), not version.is_prerelease, version)

    return max(releases, key=rank)


def _described(visit: Visitor, records: list[FileRecord]) -> Described | None:
    """The release's core metadata and README, rendered (in a worker thread)."""
    with_metadata = [r for r in records if r.metadata_sha256]
    if not with_metadata:
        return None
    record = sorted(with_metadata, key=lambda r: not r.is_wheel)[0]
    try:
        raw = visit.services.storage.read_bytes(metadata_key(record.project, record.filename))
    except PubkitError:
        return None
    assert record.metadata_sha256 is not None
    return described.get(record.metadata_sha256, raw)


def _project_facts(visit: Visitor, name: str, records: list[FileRecord]) -> dict[str, Any]:
    """What a project page shows beside its files and roles, read in one worker thread."""
    services = visit.services
    return {
        "links": web_catalog.project_links(services.catalog, name, readable(visit)),
        "described": _described(visit, records),
        "delete": may(visit, Action.ADMIN),
        "private": name in services.permissions.private_projects(),
    }


def install_lines(request: Request, name: str, version: str) -> dict[str, str]:
    index = f"{request.url.scheme}://{request.url.netloc}/simple/"
    pin = f"{name}=={version}"
    return {
        "pip": f"pip install --index-url {index} {pin}",
        "uv": f"uv pip install --index-url {index} {pin}",
        "requirements.txt": f"--index-url {index}\n{pin}",
        "Dockerfile": f"ARG PIP_INDEX_URL={index}\nRUN pip install {pin}",
    }


async def project(request: Request) -> Response:
    visit = await visitor(request)
    name = normalize_name(request.path_params["project"])
    files = await project_files(visit, name)
    releases = _releases(files)
    version, records = _newest(releases)
    manage = await allowed(visit, Action.MANAGE, name)
    info = await invoke(visit, "getProject", {"project": name}) if manage else None
    values: dict[str, Any] = {
        "name": name, "display_name": records[0].display_name, "version": version,
        "releases": releases, "info": info, "manage": manage,
        "install": install_lines(request, name, version),
        "roles": ("owner", "maintainer", "reader"),
        **await run_in_threadpool(_project_facts, visit, name, records),
    }  # fmt: skip
    return remember_csrf(visit, page("project.html", visit.page(**values)))


async def project_action(request: Request) -> Response:
    """The forms of a project page: yank, unyank, delete a release; visibility; roles."""
    visit = await visitor(request)
    fields = await form_of(visit)
    name = normalize_name(request.path_params["project"])
    action = request.path_params["action"]
    target = f"/ui/project/{name}/"
    version = {"project": name, "version": fields.get("version", "")}
    if action == "yank":
        reason = fields.get("reason") or None
        await invoke(visit, "yankRelease", version, {"reason": reason})
        return done(request, target, f"Yanked {name} {fields['version']}.")
    if action == "unyank":
        await invoke(visit, "unyankRelease", version)
        return done(request, target, f"Unyanked {name} {fields['version']}.")
    if action == "delete":
        await invoke(visit, "deleteRelease", version)
        left = await run_in_threadpool(visit.services.catalog.project_files, name)
        return done(request, target if left else "/ui/", f"Deleted {name} {fields['version']}.")
    if action == "visibility":
        private = fields.get("private") == "true"
        await invoke(visit, "setVisibility", {"project": name}, {"private": private})
        return done(request, target, f"{name} is now {'private' if private else 'public'}.")
    holder = fields.get("holder", "").strip()
    if action == "grant":
        role = fields.get("role", "")
        await invoke(visit, "grantRole", {"project": name, "holder": holder}, {"role": role})
        return done(request, target, f"{holder} is now {role} of {name}.")
    if action == "revoke":
        role = fields.get("role", "")
        await invoke(visit, "revokeRole", {"project": name, "holder": holder, "role": role})
        return done(request, target, f"{holder} is no longer {role} of {name}.")
    raise hidden(name)


# -- signing in and out --------------------------------------------------------------------


async def signin_page(request: Request) -> Response:
    visit = await visitor(request)
    if visit.principal is not None:
        return RedirectResponse("/ui/", status_code=303)
    return remember_csrf(visit, page("signin.html", visit.page(error=None, name="")))


async def signin(request: Request) -> Response:
    visit = await visitor(request)
    fields = await form_of(visit)
    name = fields.get("name", "")
    try:
        principal, secret = await sign_in(visit, name, fields.get("password", ""))
    except (AuthenticationError, RateLimitedError) as error:
        headers = ({"retry-after": str(error.retry_after)}
                   if isinstance(error, RateLimitedError) else None)  # fmt: skip
        message = (error.message if isinstance(error, RateLimitedError)
                   else "Wrong user name or password.")  # fmt: skip
        return remember_csrf(visit, page("signin.html", visit.page(error=message, name=name),
                                         error.http_status, headers))  # fmt: skip
    response = RedirectResponse("/ui/", status_code=303)
    flash(response, f"Signed in as {principal.name}.", request)
    if visit.secret is not None:  # signing in again: the session it replaces ends
        await sign_out(visit, response)
    return set_session(response, request, secret)


async def signout(request: Request) -> Response:
    visit = await visitor(request)
    await form_of(visit)
    return await sign_out(visit, done(request, "/ui/", "Signed out."))


# -- a user's own account: password and tokens ---------------------------------------------

_PROJECT_LIST = re.compile(r"[\s,]+")


async def account(request: Request, created: dict[str, Any] | None = None,
                  status: int = 200) -> Response:  # fmt: skip
    visit = await visitor(request)
    if visit.principal is None:
        return RedirectResponse("/ui/signin", status_code=303)
    tokens = await invoke(visit, "listTokens", {"user": visit.principal.name})
    return remember_csrf(visit, page("account.html", visit.page(
        tokens=[t for t in tokens if not t["revoked"]], created=created), status))  # fmt: skip


async def account_action(request: Request) -> Response:
    visit = await visitor(request)
    fields = await form_of(visit)
    action = request.path_params["action"]
    if visit.principal is None:
        raise AuthenticationError("sign in first")
    me = visit.principal.name
    if action == "password":
        await invoke(visit, "setPassword", {"name": me}, {"password": fields.get("password", "")})
        # The new password signed every session out, this one too: sign in again.
        return done(request, "/ui/signin", "Password changed; sign in with the new one.")
    if action == "revoke":
        await invoke(visit, "revokeToken", {"id": fields.get("id", "")})
        return done(request, "/ui/account", f"Revoked token {fields.get('id', '')}.")
    if action == "token":
        days = fields.get("expires_days", "").strip()
        if days and not (days.isdigit() and 0 < int(days) <= 36600):
            raise api_error("expires in: a number of days from 1 to 36600, or empty for never")
        projects = [p for p in _PROJECT_LIST.split(fields.get("projects", "")) if p]
        body = {
            "permission": fields.get("permission", "read"), "projects": projects or None,
            "expires_in": int(timedelta(days=int(days)).total_seconds()) if days else None,
            "description": fields.get("description") or None,
        }  # fmt: skip
        created = await invoke(visit, "createToken", None, body)
        return await account(request, created, 201)
    raise AuthenticationError("sign in first")


def api_error(message: str) -> PubkitError:
    from pubkit.server.api_schema import RequestError

    return RequestError(message)
