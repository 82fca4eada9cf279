"""The admin HTTP API under ``/api/v1`` (docs/admin-api-contract.md).

One table, :data:`ENDPOINTS`, declares every endpoint once: method, path, who may call it,
its parameters, request and answer schemas and the errors it can answer. The Starlette
routes (:func:`create_api`), the request validation and the OpenAPI 3.1 document served at
``/api/v1/openapi.json`` (:func:`openapi_document`) are all generated from it.

Handlers are thin: the wrapper authenticates (:meth:`Services.user_of`, with sign-in pacing),
validates the path, query and JSON body; the handler asks the policy
(:mod:`pubkit.server.auth.policy`) and runs the :class:`~pubkit.server.admin.Admin`
operation in a worker thread, acting as the principal, from the client's address, so the
audit log records who and from where. Every error is ``{"error": "<one line>"}``.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from pubkit import __version__
from pubkit.core.distributions import normalize_name
from pubkit.core.retention import KINDS, RetentionPolicy
from pubkit.errors import AuthenticationError, NotFoundError, PubkitError, UsageError
from pubkit.server.admin import Admin
from pubkit.server.api_schema import (
    AUDIT_FILTERS,
    COMPONENTS,
    GROUP,
    GROUP_NAME,
    HOLDER_PARAM,
    LIMIT,
    MAX_BODY,
    MEMBER,
    OFFSET,
    PASSWORD,
    PERMISSION,
    PROJECT,
    PROJECT_NAME,
    QUERY,
    ROLE,
    ROLE_PARAM,
    TEXT,
    TOKEN,
    TOKEN_USER,
    USER,
    USER_NAME,
    VERSION_PARAM,
    Param,
    RequestError,
    Schema,
    array,
    is_json,
    nullable,
    obj,
    read_json,
    ref,
)
from pubkit.server.asgi import (
    CLIENT_GONE,
    CROSS_SITE_REFUSAL,
    client_address,
    cross_site,
    error_headers,
    log_client_gone,
)
from pubkit.server.auth.policy import (
    Action,
    Policy,
    administers,
    decide_password_change,
    decide_token_creation,
    decide_token_listing,
    decide_token_revocation,
)
from pubkit.server.auth.tokens import Principal
from pubkit.server.catalog import web as web_catalog
from pubkit.server.metrics import Publisher
from pubkit.server.services import Services, services_of
from pubkit.server.upstream import counts
from pubkit.server.upstream.index import UpstreamIndex

log = logging.getLogger("pubkit.server")

PREFIX = "/api/v1"
# Longer would overflow the calendar; a token that should never expire has no expires_in.
MAX_EXPIRES_IN = 100 * 366 * 24 * 3600

T = TypeVar("T")
Json = Any


# -- one call: what a handler gets -----------------------------------------------------------


@dataclass
class Call:
    request: Request
    services: Services
    principal: Principal | None
    args: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def policy(self) -> Policy:
        return self.services.permissions.policy

    @property
    def address(self) -> str | None:
        return client_address(self.request.scope)

    @property
    def admin(self) -> Admin:
        """The operations, acting as the principal, from the client's address."""
        actor = self.principal.actor if self.principal is not None else None
        services = self.services
        return Admin(services.catalog, lambda: services.storage, actor, self.address)

    def signed_in(self) -> Principal:
        if self.principal is None:
            raise AuthenticationError("the admin API requires credentials; sign in")
        return self.principal

    async def check(self, action: Action, project: str | None = None) -> None:
        """The policy's answer for ``action``, from the catalog as it is now."""
        await run_in_threadpool(self.services.permissions.check, self.principal, action,
                                project, cached=False)  # fmt: skip

    @staticmethod
    def refuse(refusal: PubkitError | None) -> None:
        if refusal is not None:
            raise refusal

    async def run(self, operation: Callable[..., T], *args: Any) -> T:
        """A blocking operation (catalog, storage, password hashing) in a worker thread."""
        return await run_in_threadpool(operation, *args)


Handler = Callable[[Call], Awaitable[Json]]


# -- handlers ------------------------------------------------------------------------------


async def _openapi(_call: Call) -> Json:
    return openapi_document()


async def _whoami(call: Call) -> Json:
    principal = call.signed_in()
    token = principal.token.to_json() if principal.token is not None else None
    return {"user": principal.name, "admin": administers(call.policy, principal), "token": token}


async def _users(call: Call) -> Json:
    await call.check(Action.ADMIN)
    return [user.to_json() for user in await call.run(call.admin.users)]


async def _add_user(call: Call) -> Json:
    await call.check(Action.ADMIN)
    body = call.body
    user = await call.run(call.admin.add_user, body["name"], body["password"],
                          body.get("admin", False))  # fmt: skip
    return user.to_json()


async def _remove_user(call: Call) -> Json:
    await call.check(Action.ADMIN)
    await call.run(call.admin.remove_user, call.args["name"])


async def _set_password(call: Call) -> Json:
    name = call.args["name"]
    call.refuse(decide_password_change(call.policy, call.principal, name))
    await call.run(call.admin.set_password, name, call.body["password"])


async def _set_admin(call: Call) -> Json:
    await call.check(Action.ADMIN)
    await call.run(call.admin.set_admin, call.args["name"], call.body["admin"])


async def _set_disabled(call: Call) -> Json:
    await call.check(Action.ADMIN)
    await call.run(call.admin.set_disabled, call.args["name"], call.body["disabled"])


async def _groups(call: Call) -> Json:
    await call.check(Action.ADMIN)
    return [group.to_json() for group in await call.run(call.admin.groups)]


async def _add_group(call: Call) -> Json:
    await call.check(Action.ADMIN)
    return (await call.run(call.admin.add_group, call.body["name"])).to_json()


async def _remove_group(call: Call) -> Json:
    await call.check(Action.ADMIN)
    await call.run(call.admin.remove_group, call.args["name"])


async def _add_member(call: Call) -> Json:
    await call.check(Action.ADMIN)
    await call.run(call.admin.add_member, call.args["name"], call.args["user"])


async def _remove_member(call: Call) -> Json:
    await call.check(Action.ADMIN)
    await call.run(call.admin.remove_member, call.args["name"], call.args["user"])


async def _tokens(call: Call) -> Json:
    user: str | None = call.args.get("user")
    call.refuse(decide_token_listing(call.policy, call.principal, user))
    principal = call.signed_in()
    if user is None and not administers(call.policy, principal):
        user = principal.name
    elif user is not None and await call.run(call.services.catalog.user, user) is None:
        raise NotFoundError(f"no user {user!r}; GET /api/v1/users shows who exists")
    return [token.to_json() for token in await call.run(call.admin.tokens, user)]


async def _create_token(call: Call) -> Json:
    body = call.body
    user: str = body.get("user") or call.signed_in().name
    call.refuse(decide_token_creation(call.policy, call.principal, user))
    seconds = body.get("expires_in")
    expires_in = timedelta(seconds=int(seconds)) if seconds is not None else None
    token, secret = await call.run(
        call.admin.create_token, user, tuple(body.get("projects") or ()),
        body.get("permission", "upload"), expires_in, body.get("description"),
    )  # fmt: skip
    return {"token": token.to_json(), "secret": secret}


async def _revoke_token(call: Call) -> Json:
    token_id = call.args["id"]
    found = await call.run(call.services.catalog.token, token_id)
    call.refuse(decide_token_revocation(call.policy, call.principal,
                                        found[0].user if found else None))  # fmt: skip
    if found is None:
        raise NotFoundError(f"no token {token_id!r}; GET /api/v1/tokens lists them")
    return (await call.run(call.admin.revoke_token, token_id)).to_json()


async def _project_info(call: Call) -> Json:
    await call.check(Action.MANAGE, call.args["project"])
    return (await call.run(call.admin.project, call.args["project"])).to_json()


async def _grant(call: Call) -> Json:
    project = call.args["project"]
    await call.check(Action.MANAGE, project)
    await call.run(call.admin.grant, project, call.args["holder"], call.body["role"])


async def _revoke(call: Call) -> Json:
    project = call.args["project"]
    await call.check(Action.MANAGE, project)
    await call.run(call.admin.revoke, project, call.args["holder"], call.args["role"])


async def _visibility(call: Call) -> Json:
    project = call.args["project"]
    await call.check(Action.MANAGE, project)
    await call.run(call.admin.set_private, project, call.body["private"])


async def _yank(call: Call) -> Json:
    project, version = call.args["project"], call.args["version"]
    await call.check(Action.MANAGE, project)
    return {"files": await call.run(call.admin.yank, project, version, call.body.get("reason"))}


async def _unyank(call: Call) -> Json:
    project, version = call.args["project"], call.args["version"]
    await call.check(Action.MANAGE, project)
    return {"files": await call.run(call.admin.yank, project, version, None, False)}


async def _delete_release(call: Call) -> Json:
    project, version = call.args["project"], call.args["version"]
    await call.check(Action.ADMIN, project)
    return {"files": await call.run(call.admin.delete_release, project, version)}


async def _upstream_rule(call: Call) -> Json:
    project, body = call.args["project"], call.body
    await call.check(Action.ADMIN, project)
    changed = False
    if "reserved" in body:
        changed |= await call.run(call.admin.reserve, project, body["reserved"])
    if "tracked" in body:
        changed |= await call.run(call.admin.track, project, body["tracked"])
    if "min_age" in body:
        changed |= await call.run(call.admin.set_min_age, project, body["min_age"])
    return {"changed": changed}


def _configured(call: Call) -> UpstreamIndex:
    upstream = call.services.upstream
    if upstream is None:
        raise UsageError("this server has no upstream; start it with --upstream URL")
    return upstream


async def _upstream_status(call: Call) -> Json:
    await call.check(Action.ADMIN)
    upstream = _configured(call)
    status = await call.run(call.admin.upstream_status, upstream.pages.sources)
    # Every worker's counts: each shares them in its metrics snapshot (this one's fresh).
    publisher = call.services.publisher or Publisher(call.services.metrics, None)
    snapshots = publisher.snapshots()  # on the loop, like /metrics: never mid-count
    every_worker = publisher.folder is not None or call.services.settings.workers == 1
    status.update(counts.summed(snapshots, os.getpid(), every_worker))
    return status


async def _upstream_prune(call: Call) -> Json:
    await call.check(Action.ADMIN)
    _configured(call)
    body = call.body
    return await call.run(call.admin.prune_upstream, body["older_than_seconds"],
                          body.get("dry_run", False))  # fmt: skip


async def _audit(call: Call) -> Json:
    await call.check(Action.ADMIN)
    args = call.args
    wanted = web_catalog.AuditFilter(args.get("actor", ""), args.get("action", ""),
                                     args.get("target", ""), args.get("since"),
                                     args.get("until"))  # fmt: skip
    entries = await call.run(web_catalog.audit_entries, call.services.catalog, wanted,
                             args.get("limit") or 100)  # fmt: skip
    return [entry.to_json() for entry in entries]


async def _search(call: Call) -> Json:
    """Private projects are seen by those who may read them, in the matches and the count."""
    await call.check(Action.READ)
    permissions = call.services.permissions
    readable = await call.run(permissions.readable_private, call.principal)
    found = await call.run(web_catalog.search_projects, call.services.catalog,
                           call.args.get("q", ""), readable, call.args.get("limit") or 100,
                           call.args.get("offset") or 0)  # fmt: skip
    return {"total": found.total, "projects": [
        {"name": p.name, "display_name": p.display_name, "summary": p.summary,
         "private": p.private} for p in found.projects]}  # fmt: skip


# -- the table -----------------------------------------------------------------------------

ADMIN = "admin"
OWNER = "owner of the project, or admin"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # below PREFIX
    operation: str  # the OpenAPI operationId and the route's name
    tag: str
    summary: str
    who: str
    handler: Handler
    params: tuple[Param, ...] = ()
    body: Schema | None = None
    body_optional: bool = False
    status: int = 200  # 204: no content
    answer: Schema | None = None
    errors: tuple[int, ...] = ()  # beyond those every endpoint of its kind can answer
    public: bool = False

    def statuses(self) -> list[int]:
        """Every error status this endpoint can answer."""
        found = set(self.errors)
        if not self.public:
            found |= {401, 403, 429, 503}
        if self.body is not None or self.params:
            found.add(400)
        if self.body is not None:
            found.add(413)
        if self.method not in _SAFE_METHODS:
            found.add(415)  # a body or Content-Type other than JSON (what forms send)
        if any(param.where == "path" for param in self.params):
            found.add(404)  # no such thing, or a path no route matches
        return sorted(found)


_TOKEN_BODY = obj(
    (), user={**USER_NAME, "description": "Whose token (default: the caller's)."},
    projects={**nullable(array(PROJECT_NAME, maxItems=100)),
              "description": "Limit the token to these projects (default: every project)."},
    permission={**PERMISSION, "default": "upload"},
    expires_in={**nullable({"type": "integer", "minimum": 1, "maximum": MAX_EXPIRES_IN}),
                "description": "Seconds until it expires (default: never)."},
    description=nullable(TEXT),
)  # fmt: skip

async def _prune(call: Call) -> Json:
    await call.check(Action.ADMIN)
    body = call.body
    seconds = body.get("older_than_seconds")
    policy = RetentionPolicy(
        keep=int(body.get("keep", 10)),
        older_than=timedelta(seconds=int(seconds)) if seconds is not None else None,
        kinds=frozenset(str(kind) for kind in body.get("kinds") or ("dev",)),
        projects=frozenset(normalize_name(p) for p in body.get("projects") or ()),
    )  # fmt: skip
    result = await call.run(call.admin.prune, policy, bool(body.get("dry_run", False)))
    return result.to_json()


_PRUNE_BODY = obj(
    (), keep={"type": "integer", "minimum": 0, "maximum": 100000, "default": 10,
              "description": "Newest releases of each covered kind kept per project."},
    older_than_seconds={**nullable({"type": "integer", "minimum": 0, "maximum": MAX_EXPIRES_IN}),
                        "description": "Only releases at least this old go (default: any age)."},
    kinds={**array({"type": "string", "enum": list(KINDS)}, minItems=1, maxItems=3,
                   uniqueItems=True),
           "default": ["dev"], "description": "Kinds of release pruned: dev, pre, final."},
    projects={**array(PROJECT_NAME, maxItems=1000),
              "description": "Only these projects (default: every project)."},
    dry_run={"type": "boolean", "default": False},
)  # fmt: skip

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/openapi.json", "getOpenAPI", "meta", "This document.", "anyone",
             _openapi, answer={"type": "object"}, public=True),
    Endpoint("GET", "/whoami", "whoAmI", "meta", "Who these credentials sign in as.",
             "any signed-in user", _whoami, answer=ref("WhoAmI")),
    Endpoint("GET", "/users", "listUsers", "users", "List the users.", ADMIN, _users,
             answer=array(ref("UserInfo"))),
    Endpoint("POST", "/users", "addUser", "users", "Add a user.", ADMIN, _add_user,
             body=obj(("name", "password"), name=USER_NAME, password=PASSWORD,
                      admin={"type": "boolean", "default": False}),
             status=201, answer=ref("UserInfo"), errors=(409,)),
    Endpoint("DELETE", "/users/{name}", "removeUser", "users", "Remove a user.", ADMIN,
             _remove_user, (USER,), status=204),
    Endpoint("PUT", "/users/{name}/password", "setPassword", "users", "Set a user's password.",
             "admin, or that user signed in with their password (not a token)", _set_password,
             (USER,), body=obj(("password",), password=PASSWORD), status=204),
    Endpoint("PUT", "/users/{name}/admin", "setAdmin", "users",
             "Make a user an administrator or not (never the last administrator: 400).",
             ADMIN, _set_admin, (USER,), body=obj(("admin",), admin={"type": "boolean"}),
             status=204),
    Endpoint("PUT", "/users/{name}/disabled", "setDisabled", "users",
             "Disable a user (no sign-in with their password or tokens) or enable them"
             " (never the last enabled administrator: 400).", ADMIN, _set_disabled, (USER,),
             body=obj(("disabled",), disabled={"type": "boolean"}), status=204),
    Endpoint("GET", "/groups", "listGroups", "groups", "List the groups.", ADMIN, _groups,
             answer=array(ref("Group"))),
    Endpoint("POST", "/groups", "addGroup", "groups", "Add a group.", ADMIN, _add_group,
             body=obj(("name",), name=GROUP_NAME), status=201, answer=ref("Group"),
             errors=(409,)),
    Endpoint("DELETE", "/groups/{name}", "removeGroup", "groups",
             "Remove a group, its memberships and its roles.", ADMIN, _remove_group, (GROUP,),
             status=204),
    Endpoint("PUT", "/groups/{name}/members/{user}", "addMember", "groups",
             "Add a user to a group (no change if they are a member).", ADMIN, _add_member,
             (GROUP, MEMBER), status=204),
    Endpoint("DELETE", "/groups/{name}/members/{user}", "removeMember", "groups",
             "Take a user out of a group (404 if not a member).", ADMIN, _remove_member,
             (GROUP, MEMBER), status=204),
    Endpoint("GET", "/tokens", "listTokens", "tokens", "List tokens.",
             "admin (anyone's, default everyone's); others: their own only", _tokens,
             (TOKEN_USER,), answer=array(ref("Token")), errors=(404,)),
    Endpoint("POST", "/tokens", "createToken", "tokens", "Create a token; its secret is"
             " answered once.", "admin for anyone; a user for themself, signed in with their"
             " password (a token cannot mint tokens)", _create_token, body=_TOKEN_BODY,
             status=201, answer=ref("NewToken"), errors=(404,)),
    Endpoint("DELETE", "/tokens/{id}", "revokeToken", "tokens", "Revoke a token.",
             "admin, or the token's user (not with a read-only token)", _revoke_token, (TOKEN,),
             answer=ref("Token")),
    Endpoint("GET", "/projects", "searchProjects", "projects",
             "Search the projects by name and summary (best name matches first).",
             "any signed-in user (private projects: those who may read them)", _search,
             (QUERY, LIMIT, OFFSET), answer=ref("Found")),
    Endpoint("GET", "/projects/{project}", "getProject", "projects",
             "A project's visibility and roles.", OWNER, _project_info, (PROJECT,),
             answer=ref("ProjectInfo")),
    Endpoint("PUT", "/projects/{project}/roles/{holder}", "grantRole", "projects",
             "Give a user or @group a role, replacing the one they had there.",
             f"{OWNER} (admin only when the project does not exist yet: it is created)",
             _grant, (PROJECT, HOLDER_PARAM), body=obj(("role",), role=ROLE), status=204),
    Endpoint("DELETE", "/projects/{project}/roles/{holder}/{role}", "revokeRole", "projects",
             "Take a role away (a project keeps at least one owner).", OWNER, _revoke,
             (PROJECT, HOLDER_PARAM, ROLE_PARAM), status=204),
    Endpoint("PUT", "/projects/{project}/visibility", "setVisibility", "projects",
             "Make a project private or public.",
             f"{OWNER} (admin only when the project does not exist yet: it is created)",
             _visibility, (PROJECT,), body=obj(("private",), private={"type": "boolean"}),
             status=204),
    Endpoint("PUT", "/projects/{project}/upstream", "setUpstreamRule", "projects",
             "The upstream guard's rule of a name: reserved (served only from this index),"
             " tracked (a local project's page merges the upstream's files), min_age (its"
             " quarantine in whole seconds; null: the server's).", ADMIN, _upstream_rule,
             (PROJECT,),
             body=obj((), reserved={"type": "boolean"}, tracked={"type": "boolean"},
                      min_age=nullable({"type": "integer", "minimum": 0})),
             answer=obj(("changed",), changed={"type": "boolean"}), errors=(404,)),
    Endpoint("POST", "/projects/{project}/releases/{version}/yank", "yankRelease", "releases",
             "Yank every file of a release.", OWNER, _yank, (PROJECT, VERSION_PARAM),
             body=obj((), reason=nullable(TEXT)), body_optional=True,
             answer=ref("FileCount")),
    Endpoint("POST", "/projects/{project}/releases/{version}/unyank", "unyankRelease",
             "releases", "Unyank every file of a release.", OWNER, _unyank,
             (PROJECT, VERSION_PARAM), answer=ref("FileCount")),
    Endpoint("DELETE", "/projects/{project}/releases/{version}", "deleteRelease", "releases",
             "Delete every file of a release from storage and the catalog.", ADMIN,
             _delete_release, (PROJECT, VERSION_PARAM), answer=ref("FileCount")),
    Endpoint("POST", "/prune", "pruneReleases", "releases",
             "Remove the releases a retention policy does not keep (dev builds by default;"
             " releases a kept one pins stay).", ADMIN, _prune, body=_PRUNE_BODY,
             body_optional=True, answer=ref("PruneResult")),
    Endpoint("GET", "/upstream", "upstreamStatus", "upstream",
             "Each upstream's reachability, the cache's size, every worker's page and file"
             " hits, fetches and errors (summed, and each worker's), and the last upstream"
             " error.", ADMIN, _upstream_status,
             answer=ref("UpstreamStatus"), errors=(400,)),
    Endpoint("POST", "/upstream/prune", "pruneUpstream", "upstream",
             "Remove upstream files and pages cached longer ago than older_than_seconds.",
             ADMIN, _upstream_prune,
             body=obj(("older_than_seconds",),
                      older_than_seconds={"type": "integer", "minimum": 0},
                      dry_run={"type": "boolean"}),
             answer=obj(("files", "pages", "bytes", "dry_run"),
                        files={"type": "integer"}, pages={"type": "integer"},
                        bytes={"type": "integer"}, dry_run={"type": "boolean"}),
             errors=(400,)),
    Endpoint("GET", "/audit", "listAudit", "audit", "The audit log, newest first.", ADMIN,
             _audit, (LIMIT, *AUDIT_FILTERS), answer=array(ref("AuditEntry"))),
)  # fmt: skip


# -- the document --------------------------------------------------------------------------

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Malformed JSON, a missing, unknown or wrong-typed field, or an"
                        " invalid value (name, password, role, version)."),
    401: ("Unauthorized", "No credentials, or wrong ones."),
    403: ("Forbidden", "Signed in, but not allowed to do this."),
    404: ("NotFound", "No such user, group, token, project or release (or a private project"
                      " the caller may not see)."),
    409: ("Conflict", "It exists already."),
    413: ("TooLarge", f"The request body is larger than {MAX_BODY} bytes."),
    415: ("UnsupportedMediaType", "A request that changes something sends JSON or no body:"
                                  " any other Content-Type (a form's) is refused."),
    429: ("TooManyRequests", "Too many failed sign-ins from this address or for this account."),
    503: ("Unavailable", "The storage or the catalog is unavailable; retry later."),
}  # fmt: skip
_ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True,
                               "description": 'Basic realm="pubkit"'}},
    429: {"Retry-After": {"schema": {"type": "integer"}, "required": True,
                          "description": "Seconds to wait before signing in again."}},
}  # fmt: skip


def _json_content(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    success: dict[str, Any] = {"description": "Done." if endpoint.status == 204 else "OK."}
    if endpoint.answer is not None:
        success["content"] = _json_content(endpoint.answer)
    responses = {str(endpoint.status): success}
    for status in endpoint.statuses():
        responses[str(status)] = {"$ref": f"#/components/responses/{_ERRORS[status][0]}"}
    operation: dict[str, Any] = {
        "operationId": endpoint.operation, "tags": [endpoint.tag], "summary": endpoint.summary,
        "description": f"Who may: {endpoint.who}.", "responses": responses,
    }  # fmt: skip
    if endpoint.params:
        operation["parameters"] = [param.openapi() for param in endpoint.params]
    if endpoint.body is not None:
        operation["requestBody"] = {"required": not endpoint.body_optional,
                                    "content": _json_content(endpoint.body)}  # fmt: skip
    if endpoint.public:
        operation["security"] = []
    return operation


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of :data:`ENDPOINTS`."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    responses = {}
    for status, (name, description) in _ERRORS.items():
        response: dict[str, Any] = {"description": description,
                                    "content": _json_content(ref("Error"))}  # fmt: skip
        if status in _ERROR_HEADERS:
            response["headers"] = _ERROR_HEADERS[status]
        responses[name] = response
    return {
        "openapi": "3.1.0",
        "info": {"title": "pubkit admin API", "version": __version__,
                 "description": "Users, groups, tokens, roles, releases and the audit log of"
                                " a pubkit index. Errors answer {\"error\": \"…\"}."},
        "servers": [{"url": PREFIX}],
        "security": [{"basic": []}, {"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": COMPONENTS,
            "responses": responses,
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic",
                          "description": "user:password, or __token__:<token>."},
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "An API token, pubkit_<id>_<secret>."},
            },
        },
    }  # fmt: skip


# -- the application -----------------------------------------------------------------------

_SAFE_METHODS = ("GET", "HEAD")


def _endpoint(spec: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        services = services_of(request)
        if request.method not in _SAFE_METHODS:
            # A browser holding Basic credentials for this server must not be made to act
            # by another site's page: no cross-site request, and no body a form can send
            # (a form cannot send JSON without the browser asking this server first).
            if cross_site(request.scope):
                raise RequestError(CROSS_SITE_REFUSAL, 403)
            media = request.headers.get("content-type")
            if media is not None and not is_json(media):
                raise RequestError(
                    "send the body as JSON, with Content-Type: application/json", 415
                )
        principal = None if spec.public else await services.user_of(request)
        if principal is None and not spec.public:
            # Refused at the headers: an anonymous caller's body is never read.
            raise AuthenticationError("the admin API requires credentials; sign in")
        args = {}
        for param in spec.params:
            source = request.path_params if param.where == "path" else request.query_params
            value = source.get(param.name)
            if value is not None:
                args[param.name] = param.parse(value)
        body = {}
        if spec.body is not None:
            body = await read_json(request, spec.body, spec.body_optional)
        result = await spec.handler(Call(request, services, principal, args, body))
        if spec.status == 204:
            return Response(status_code=204)
        return JSONResponse(result, status_code=spec.status)

    endpoint.__name__ = spec.operation
    endpoint.__doc__ = f"{spec.summary} Who may: {spec.who}."
    return endpoint


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _pubkit_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PubkitError)
    headers = {name.decode(): value.decode() for name, value in error_headers(exc, "API call")}
    return _error(exc.http_status, exc.message, headers)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {
        404: f"no such API endpoint; GET {PREFIX}/openapi.json lists them",
        405: "this endpoint does not answer this method; see the Allow header",
    }.get(exc.status_code, exc.detail)
    return _error(exc.status_code, message, dict(exc.headers or {}))


async def _client_gone(request: Request, _exc: Exception) -> Response:
    log_client_gone(request.client.host if request.client else None, request.method,
                    request.url.path)  # fmt: skip
    return _error(CLIENT_GONE, "the client closed the request")  # sent nowhere; logged


async def _server_error(_request: Request, exc: Exception) -> Response:
    log.error("API call failed: %r", exc)
    return _error(500, "the server failed; its log says why")


def _path_endpoint(specs: list[Endpoint]) -> Callable[[Request], Awaitable[Response]]:
    """One route per path, so that a 405 lists every method of the path in Allow."""
    by_method = {spec.method: _endpoint(spec) for spec in specs}
    if "GET" in by_method:
        by_method["HEAD"] = by_method["GET"]

    async def endpoint(request: Request) -> Response:
        return await by_method[request.method](request)

    endpoint.__doc__ = "\n".join(f"{spec.method}: {by_method[spec.method].__doc__}"
                                 for spec in specs)  # fmt: skip
    return endpoint


def routes() -> list[BaseRoute]:
    """The routes of :data:`ENDPOINTS`, below ``/v1`` (the API app is mounted at ``/api``)."""
    version = PREFIX.removeprefix("/api")
    paths: dict[str, list[Endpoint]] = {}
    for spec in ENDPOINTS:
        paths.setdefault(spec.path, []).append(spec)
    return [Route(version + path, _path_endpoint(specs), methods=[s.method for s in specs],
                  name=specs[0].operation) for path, specs in paths.items()]  # fmt: skip


def create_api(services: Services) -> Starlette:
    """The admin API as its own app, mounted at ``/api`` by :func:`pubkit.server.app.create_app`:
    everything under ``/api/`` answers JSON, errors included (a missing route too)."""
    api = Starlette(
        routes=routes(),
        exception_handlers={
            PubkitError: _pubkit_error,
            HTTPException: _http_error,
            ClientDisconnect: _client_gone,
            Exception: _server_error,
        },
    )
    api.router.redirect_slashes = False
    api.state.services = services
    return api


class ApiMount(Mount):
    """``/api/…`` to the API app, every such path: Starlette's own pattern (``.*``) stops
    at a newline, which would leave ``/api/v1/users/a%0Ab`` to the plain-text 404 outside."""

    def __init__(self, app: Starlette) -> None:
        super().__init__("/api", app=app)
        self.path_regex = re.compile(r"^/api/(?P<path>.*)$", re.DOTALL)


def mount(services: Services) -> Mount:
    """What :func:`pubkit.server.app.create_app` adds to its routes."""
    return ApiMount(create_api(services))


__all__ = ["ENDPOINTS", "PREFIX", "create_api", "mount", "openapi_document"]
