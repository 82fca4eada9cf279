"""The administrators' pages: users, groups and their members, the audit log (a project's
roles, visibility and releases are managed on its own page, by its owners too)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from pubkit.errors import NotFoundError
from pubkit.server.api_schema import RequestError
from pubkit.server.catalog import web as web_catalog
from pubkit.server.web.actions import invoke
from pubkit.server.web.pages import done
from pubkit.server.web.render import page
from pubkit.server.web.session import form_of, remember_csrf, visitor


async def users(request: Request) -> Response:
    visit = await visitor(request)
    listed = await invoke(visit, "listUsers")
    return remember_csrf(visit, page("users.html", visit.page(users=listed)))


async def user_action(request: Request) -> Response:
    visit = await visitor(request)
    fields = await form_of(visit)
    action = request.path_params["action"]
    name = fields.get("name", "").strip()
    if action == "add":
        body = {"name": name, "password": fields.get("password", ""),
                "admin": fields.get("admin") == "true"}  # fmt: skip
        await invoke(visit, "addUser", None, body)
        return done(request, "/ui/admin/users", f"Added user {name}.")
    if action == "remove":
        await invoke(visit, "removeUser", {"name": name})
        return done(request, "/ui/admin/users", f"Removed user {name}.")
    if action == "disable":
        flag = fields.get("disabled") == "true"
        await invoke(visit, "setDisabled", {"name": name}, {"disabled": flag})
        return done(request, "/ui/admin/users", f"{'Disabled' if flag else 'Enabled'} {name}.")
    if action == "admin":
        flag = fields.get("admin") == "true"
        await invoke(visit, "setAdmin", {"name": name}, {"admin": flag})
        return done(request, "/ui/admin/users",
                    f"{name} is {'now' if flag else 'no longer'} an administrator.")  # fmt: skip
    if action == "password":
        await invoke(visit, "setPassword", {"name": name}, {"password": fields.get("password", "")})
        return done(request, "/ui/admin/users", f"Set a new password for {name}.")
    raise NotFoundError("no such page")


async def groups(request: Request) -> Response:
    visit = await visitor(request)
    listed = await invoke(visit, "listGroups")
    return remember_csrf(visit, page("groups.html", visit.page(groups=listed)))


async def group_action(request: Request) -> Response:
    visit = await visitor(request)
    fields = await form_of(visit)
    action = request.path_params["action"]
    group = fields.get("group", "").strip()
    member = fields.get("user", "").strip()
    target = "/ui/admin/groups"
    if action == "add":
        await invoke(visit, "addGroup", None, {"name": group})
        return done(request, target, f"Added group @{group.removeprefix('@')}.")
    if action == "remove":
        await invoke(visit, "removeGroup", {"name": group})
        return done(request, target, f"Removed group @{group.removeprefix('@')}.")
    if action == "member":
        await invoke(visit, "addMember", {"name": group, "user": member})
        return done(request, target, f"{member} is a member of @{group.removeprefix('@')}.")
    if action == "unmember":
        await invoke(visit, "removeMember", {"name": group, "user": member})
        return done(request, target, f"{member} left @{group.removeprefix('@')}.")
    raise NotFoundError("no such page")


def _day(value: str, what: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise RequestError(f"{what}: a date as YYYY-MM-DD") from None


async def audit(request: Request) -> Response:
    """The admin API's audit listing (its policy, its filters), with dates for moments."""
    visit = await visitor(request)
    query = request.query_params
    since, until = query.get("since", "")[:10], query.get("until", "")[:10]
    start, end = _day(since, "from"), _day(until, "until")
    args = {"actor": query.get("actor", "").strip(), "action": query.get("action", ""),
            "target": query.get("target", "").strip(), "limit": "200",
            "since": start.isoformat() if start else "",
            "until": (end + timedelta(days=1)).isoformat() if end else ""}  # fmt: skip
    entries = await invoke(visit, "listAudit", args)
    actions = await run_in_threadpool(web_catalog.audit_actions, visit.services.catalog)
    return remember_csrf(visit, page("audit.html", visit.page(
        entries=entries, actions=actions, wanted=args, since=since, until=until)))  # fmt: skip
