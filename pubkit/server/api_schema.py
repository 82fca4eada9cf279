"""The admin API's request side: the JSON schemas of its bodies and answers, their
validation (:func:`check_json`, :func:`read_json`), and the path and query parameters
(:class:`Param`), which :mod:`pubkit.server.api` declares its endpoints with and the web
interface's forms reuse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from packaging.version import InvalidVersion, Version
from starlette.requests import Request

from pubkit.core.accounts import GROUP_PREFIX, ROLES
from pubkit.core.distributions import normalize_name
from pubkit.errors import PubkitError
from pubkit.server.admin import check_name
from pubkit.server.auth.tokens import PERMISSIONS, split_token
from pubkit.server.catalog.web import MAX_QUERY

MAX_BODY = 64 * 1024
MAX_PROJECT_NAME = 200
MAX_VERSION = 100
MAX_AUDIT = 1000

Schema = dict[str, Any]


class RequestError(PubkitError):
    """A request the API refuses before acting: its body, a parameter, its origin."""

    def __init__(self, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.http_status = http_status


# -- schemas -------------------------------------------------------------------------------


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {**schema, "type": [schema["type"], "null"]}


def array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


def obj(required: tuple[str, ...], doc: str | None = None, /, **properties: Schema) -> Schema:
    """A JSON object with exactly these fields: unknown fields are refused (400)."""
    schema: Schema = {"type": "object", "properties": properties,
                      "required": list(required), "additionalProperties": False}  # fmt: skip
    if doc:
        schema["description"] = doc
    return schema


TIME: Schema = {"type": "string", "format": "date-time"}
COUNT: Schema = {"type": "integer", "minimum": 0}
_NAME_RULE = "1 to 100 printable characters, no colon or slash, not starting with @"
# What check_name allows, as far as a portable regex can say (no Unicode categories): no
# control characters, colon or slash; no @ or space first; no space last.
_INNER = r"[^:/\x00-\x1f\x7f-\x9f]"
_EDGE = r"[^@:/\s\x00-\x1f\x7f-\x9f]"
_NAME = rf"{_EDGE}({_INNER}{{0,98}}{_EDGE.replace('@', '')})?"  # 1 to 100 characters
NAME_PATTERN = rf"^{_NAME}$"
USER_NAME: Schema = {"type": "string", "minLength": 1, "maxLength": 100,
                     "pattern": NAME_PATTERN, "examples": ["alice"],
                     "description": f"A user name: {_NAME_RULE}."}  # fmt: skip
GROUP_NAME: Schema = {"type": "string", "minLength": 1, "maxLength": 101,
                      "pattern": rf"^@?{_NAME}$", "examples": ["developers"],
                      "description": f"A group name ({_NAME_RULE}), with or without"
                                     " its @."}  # fmt: skip
HOLDER: Schema = {**GROUP_NAME, "examples": ["alice", "@developers"],
                  "description": "A user name, or @ and a group name."}  # fmt: skip
PROJECT_PATTERN = r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$"
PROJECT_NAME: Schema = {"type": "string", "minLength": 1, "maxLength": MAX_PROJECT_NAME,
                        "pattern": PROJECT_PATTERN, "examples": ["example-project"],
                        "description": "A project name (PEP 508); the server normalizes it"
                                       " (PEP 503)."}  # fmt: skip
# PEP 440's normalized form; the other spellings it allows (1.0-post1, v1.0) are accepted too.
VERSION_PATTERN = (r"^([0-9]+!)?[0-9]+(\.[0-9]+)*((a|b|rc)[0-9]+)?(\.post[0-9]+)?"
                   r"(\.dev[0-9]+)?(\+[a-z0-9]+(\.[a-z0-9]+)*)?$")  # fmt: skip
VERSION: Schema = {"type": "string", "minLength": 1, "maxLength": MAX_VERSION,
                   "pattern": VERSION_PATTERN, "examples": ["1.0"],
                   "description": "A PEP 440 version (normalized form shown)."}  # fmt: skip
ROLE: Schema = {"type": "string", "enum": list(ROLES), "examples": ["maintainer"]}
PERMISSION: Schema = {"type": "string", "enum": list(PERMISSIONS)}
TOKEN_ID: Schema = {"type": "string", "pattern": "^[0-9a-f]{16}$",
                    "examples": ["0123456789abcdef"],
                    "description": "A token's id (the 16 hex digits after pubkit_), never the"
                                   " token itself: paths are logged."}  # fmt: skip
NO_NUL = r"^[^\x00]*$"  # every string of a body: PostgreSQL's text cannot hold a NUL
TEXT: Schema = {"type": "string", "maxLength": 1000, "pattern": NO_NUL}
PASSWORD: Schema = {"type": "string", "minLength": 8, "maxLength": 1024, "pattern": NO_NUL,
                    "examples": ["a-long-password"]}  # fmt: skip

COMPONENTS: dict[str, Schema] = {
    "Error": obj(("error",), "What went wrong and what to do, in one line.",
                 error={"type": "string"}),
    "UserInfo": obj(("name", "admin", "created", "groups", "disabled"),
                    name={"type": "string"}, admin={"type": "boolean"}, created=TIME,
                    groups=array({"type": "string"}),
                    disabled={"type": "boolean", "description": "Signs in nowhere."}),
    "Group": obj(("name", "created", "members"), name={"type": "string"}, created=TIME,
                 members=array({"type": "string"})),
    "Token": obj(("id", "user", "permission", "projects", "description", "created", "expires",
                  "last_used", "revoked"),
                 "An API token as stored; its secret is never shown again.",
                 id={"type": "string"}, user={"type": "string"}, permission=PERMISSION,
                 projects={**nullable(array({"type": "string"})),
                           "description": "Normalized project names; null: every project."},
                 description=nullable({"type": "string"}), created=TIME,
                 expires=nullable(TIME), last_used=nullable(TIME), revoked=nullable(TIME)),
    "NewToken": obj(("token", "secret"), token=ref("Token"),
                    secret={"type": "string", "description": "pubkit_<id>_<secret>: shown once."}),
    "RoleGrant": obj(("project", "holder", "role"), "holder is a user name or @group.",
                     project={"type": "string"}, holder={"type": "string"}, role=ROLE),
    "ProjectInfo": obj(("name", "private", "roles"), name={"type": "string"},
                       private={"type": "boolean"}, roles=array(ref("RoleGrant"))),
    "AuditEntry": obj(("id", "time", "actor", "address", "action", "target", "detail"),
                      id={"type": "integer"}, time=TIME, actor=nullable({"type": "string"}),
                      address=nullable({"type": "string"}), action={"type": "string"},
                      target={"type": "string"}, detail={"type": "object"}),
    "WhoAmI": obj(("user", "admin", "token"), user={"type": "string"},
                  admin={"type": "boolean", "description": "Whether these credentials may"
                         " administer: an admin's password or unscoped upload token."},
                  token={"anyOf": [ref("Token"), {"type": "null"}]}),
    "Found": obj(("total", "projects"), "Projects matching a search, and how many match.",
                 total={"type": "integer", "minimum": 0},
                 projects=array(obj(("name", "display_name", "summary", "private"),
                                    name={"type": "string"}, display_name={"type": "string"},
                                    summary=nullable({"type": "string"}),
                                    private={"type": "boolean"}))),
    "FileCount": obj(("files",), files={"type": "integer", "minimum": 0}),
    "UpstreamCounts": obj(("hits", "fetches", "errors"),
                          "Served from the cache (hits) or asked of the upstream (fetches;"
                          " errors: those that failed).",
                          hits=COUNT, fetches=COUNT, errors=COUNT),
    "UpstreamError": obj(("message", "time"), message={"type": "string"},
                         time=nullable(TIME)),
    "UpstreamStatus": obj(
        ("upstreams", "cache", "pages", "files", "last_error", "counted"),
        "Each upstream's reachability (asked now), the cache in storage, and the counts of"
        " every worker summed (counted.workers: each one's).",
        upstreams=array(obj(("url", "reachable", "problem"), url={"type": "string"},
                            reachable={"type": "boolean"},
                            problem=nullable({"type": "string"}))),
        cache=obj(("files", "bytes", "pages"), files=COUNT, bytes=COUNT, pages=COUNT),
        pages=ref("UpstreamCounts"), files=ref("UpstreamCounts"),
        last_error={"anyOf": [obj(("message", "time", "worker"), "The newest of any worker.",
                                  message={"type": "string"}, time=nullable(TIME),
                                  worker={"type": "integer"}),
                              {"type": "null"}]},
        counted=obj(("every_worker", "answered_by", "workers"),
                    every_worker={"type": "boolean", "description": "Whether the counts cover"
                                  " every worker (false: only the one that answered)."},
                    answered_by={"type": "integer", "description": "The answering worker's"
                                 " pid."},
                    workers=array(obj(("pid", "running", "as_of", "pages", "files",
                                       "last_error"),
                                      pid={"type": "integer"}, running={"type": "boolean"},
                                      as_of=nullable(TIME), pages=ref("UpstreamCounts"),
                                      files=ref("UpstreamCounts"),
                                      last_error={"anyOf": [ref("UpstreamError"),
                                                            {"type": "null"}]}))),
    ),
    "PruneResult": obj(
        ("removed", "pinned", "kept", "dry_run"),
        removed=array(obj(("project", "version", "files"), project=PROJECT_NAME,
                          version=VERSION, files={"type": "integer", "minimum": 0})),
        pinned=array(obj(("project", "version", "pinned_by"), project=PROJECT_NAME,
                         version=VERSION, pinned_by=TEXT)),
        kept={"type": "integer", "minimum": 0},
        dry_run={"type": "boolean"},
    ),
}  # fmt: skip


# -- validation ----------------------------------------------------------------------------


def _is_integer(value: Any) -> bool:
    """JSON Schema's integer: 2.0 is one too (a bool is not)."""
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int) and not isinstance(value, bool)


_TYPES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "string": ("a string", lambda v: isinstance(v, str)),
    "boolean": ("true or false", lambda v: isinstance(v, bool)),
    "integer": ("an integer", lambda v: _is_integer(v)),
    "array": ("a list", lambda v: isinstance(v, list)),
    "object": ("an object", lambda v: isinstance(v, dict)),
    "null": ("null", lambda v: v is None),
}


def _shown(text: str) -> str:
    """A client's text in a message: one line, bounded, escaped (no lone surrogates)."""
    return repr(text[:60] + ("…" if len(text) > 60 else ""))


def _text(value: str, where: str) -> None:
    if "\x00" in value:
        raise RequestError(f"{where} contains a NUL character; remove it")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError(f"{where} is not valid Unicode (a lone surrogate?)") from None


def check_json(value: Any, schema: Schema, where: str) -> None:
    """Check ``value`` against the subset of JSON Schema our request schemas use; a
    RequestError (400) names the first problem."""
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_TYPES[name][1](value) for name in names):
            wanted = " or ".join(_TYPES[name][0] for name in names)
            raise RequestError(f"{where} must be {wanted}")
    if isinstance(value, str):
        _text(value, where)
        if "enum" in schema and value not in schema["enum"]:
            raise RequestError(f"{where} must be one of {', '.join(schema['enum'])}")
        if len(value) < schema.get("minLength", 0):
            shortest = schema["minLength"]
            raise RequestError(f"{where} must not be empty" if shortest == 1
                               else f"{where} is shorter than {shortest} characters")  # fmt: skip
        if len(value) > schema.get("maxLength", len(value)):
            raise RequestError(f"{where} is longer than {schema['maxLength']} characters")
        if "pattern" in schema and not re.fullmatch(schema["pattern"], value):
            rule = schema.get("description", f"match {schema['pattern']}")
            raise RequestError(f"{where} is not valid ({_shown(value)}): {rule}")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = schema.get("minimum", value), schema.get("maximum", value)
        if not low <= value <= high:
            raise RequestError(f"{where} must be from {low} to {high}")
    elif isinstance(value, list):
        if len(value) > schema.get("maxItems", len(value)):
            raise RequestError(f"{where} has more than {schema['maxItems']} items")
        for index, item in enumerate(value):
            check_json(item, schema.get("items", {}), f"{where}[{index}]")
    elif isinstance(value, dict):
        properties: dict[str, Schema] = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                raise RequestError(f"{where} lacks the field {name!r}")
        if schema.get("additionalProperties") is False:
            unknown = sorted(set(value) - set(properties))
            if unknown:
                raise RequestError(
                    f"{where} has the unknown field {_shown(unknown[0])}; its fields:"
                    f" {', '.join(properties)}"
                )
        for name, item in value.items():
            if name in properties:
                check_json(item, properties[name], f"the field {name!r}")


def is_json(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def read_json(request: Request, schema: Schema, optional: bool) -> dict[str, Any]:
    """The request's JSON object body, checked against ``schema``; an empty body is ``{}``
    when ``optional``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise RequestError(f"the request body is larger than {MAX_BODY} bytes", 413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise RequestError(f"the request body is larger than {MAX_BODY} bytes", 413)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        if optional:
            return {}
        raise RequestError("this request needs a JSON body; see /api/v1/openapi.json")
    if not is_json(request.headers.get("content-type", "")):
        raise RequestError("send the body as JSON, with Content-Type: application/json", 415)
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        detail = error.msg if isinstance(error, json.JSONDecodeError) else "not JSON"
        raise RequestError(f"the body is not valid JSON ({detail}); send a JSON object") from None
    check_json(body, schema, "the body")
    assert isinstance(body, dict)
    return body


# -- parameters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """A path or query parameter: its schema (for the document) and its parser (the value
    handlers get; a UsageError or RequestError for a bad one: 400)."""

    name: str
    schema: Schema
    parse: Callable[[str], Any]
    where: str = "path"
    description: str = ""

    def openapi(self) -> dict[str, Any]:
        return {"name": self.name, "in": self.where, "required": self.where == "path",
                "description": self.description, "schema": self.schema}  # fmt: skip


def _user(value: str) -> str:
    _text(value, "the user name")
    check_name("user", value)
    return value


def _group(value: str) -> str:
    _text(value, "the group name")
    name = value.removeprefix(GROUP_PREFIX)
    check_name("group", name)
    return name


def _holder(value: str) -> str:
    return GROUP_PREFIX + _group(value) if value.startswith(GROUP_PREFIX) else _user(value)


def _project(value: str) -> str:
    if len(value) > MAX_PROJECT_NAME or not re.fullmatch(PROJECT_PATTERN, value):
        raise RequestError(
            f"{_shown(value)} is not a valid project name: use letters, digits and . _ -,"
            f" starting and ending with a letter or digit, at most {MAX_PROJECT_NAME} characters"
        )
    return normalize_name(value)


def _version(value: str) -> str:
    try:
        if len(value) > MAX_VERSION or value != value.strip():
            raise InvalidVersion(value)
        return str(Version(value))
    except InvalidVersion:
        raise RequestError(f"{_shown(value)} is not a valid version (PEP 440)") from None


def _role(value: str) -> str:
    if value not in ROLES:
        raise RequestError(f"role {_shown(value)} is unknown; use one of {', '.join(ROLES)}")
    return value


def _token_id(value: str) -> str:
    if split_token(value) is not None:
        raise RequestError(
            "send the token's id (the 16 hex digits after pubkit_), never the token itself:"
            " paths are logged; revoke this token now"
        )
    if not re.fullmatch("[0-9a-f]{16}", value):
        raise RequestError(f"{_shown(value)} is not a token id: 16 hex digits")
    return value


def _limit(value: str) -> int:
    if not re.fullmatch("[0-9]{1,4}", value) or not 1 <= int(value) <= MAX_AUDIT:
        raise RequestError(f"limit must be an integer from 1 to {MAX_AUDIT}")
    return int(value)


def _query(value: str) -> str:
    _text(value, "q")
    if len(value) > MAX_QUERY:
        raise RequestError(f"q is longer than {MAX_QUERY} characters")
    return value


def _offset(value: str) -> int:
    if not re.fullmatch("[0-9]{1,7}", value):
        raise RequestError("offset must be an integer from 0 to 9999999")
    return int(value)


def _time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RequestError(f"{_shown(value)} is not a date-time (ISO 8601)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _word(name: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        _text(value, name)
        if len(value) > 255:
            raise RequestError(f"{name} is longer than 255 characters")
        return value

    return parse


USER = Param("name", USER_NAME, _user, description="The user's name.")
GROUP = Param("name", GROUP_NAME, _group, description="The group's name.")
MEMBER = Param("user", USER_NAME, _user, description="The member's user name.")
PROJECT = Param("project", PROJECT_NAME, _project, description="The project's name.")
HOLDER_PARAM = Param("holder", HOLDER, _holder, description="A user name or @group (URL-encoded).")
ROLE_PARAM = Param("role", ROLE, _role, description="The role to take away.")
VERSION_PARAM = Param("version", VERSION, _version, description="The release's version.")
TOKEN = Param("id", TOKEN_ID, _token_id, description="The token's id.")
TOKEN_USER = Param("user", USER_NAME, _user, "query",
                   "Whose tokens (admins: default everyone's; others: their own).")  # fmt: skip
QUERY = Param("q", {"type": "string", "maxLength": MAX_QUERY}, _query, "query",
              "Words the name or summary contains (default: every project).")
OFFSET = Param("offset", {"type": "integer", "minimum": 0, "maximum": 9999999, "default": 0},
               _offset, "query", "How many matches to skip.")
AUDIT_FILTERS = (
    Param("actor", {"type": "string", "maxLength": 255}, _word("actor"), "query",
          "Entries of this actor (and of their tokens)."),
    Param("action", {"type": "string", "maxLength": 255}, _word("action"), "query",
          "Entries of this action (upload, yank, grant role…)."),
    Param("target", {"type": "string", "maxLength": 255}, _word("target"), "query",
          "Entries about this project, user, @group or token."),
    Param("since", TIME, _time, "query", "Entries from this moment on."),
    Param("until", TIME, _time, "query", "Entries before this moment."),
)  # fmt: skip
LIMIT = Param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_AUDIT, "default": 100},
              _limit, "query", "How many entries, newest first.")  # fmt: skip
