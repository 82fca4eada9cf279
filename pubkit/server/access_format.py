"""The access document's format, and its parsing: what `pubkit index import` and a rebuild
read (:mod:`pubkit.server.backup` writes and imports it).

The access document is JSON::

    {"format": "pubkit-access", "version": 3,
     "users":    [{"name", "password_hash", "is_admin", "created", "disabled"?}],
     "groups":   [{"name", "created", "members": [user names]}],
     "projects": [{"name", "display_name", "created", "private"}],
     "roles":    [{"project", "user" | "group", "role"}],
     "tokens":   [{"id", "user", "secret_hash", "permission", "projects", "description",
                   "created", "expires", "last_used", "revoked"}],
     "upstream": [{"name", "reserved", "tracked", "min_age"}]}

- ``password_hash`` is the stored scrypt hash, never a password, and ``secret_hash`` a token's
  stored keyed hash, never the token: the document is a secret all the same (whoever holds it
  can guess passwords offline), so it is written with mode 0600.
- A role names its holder with ``user`` or with ``group`` (the name without the ``@`` the CLI
  writes), never both: user names from before groups existed may start with ``@``, so one
  holder string could not tell the two apart. ``role`` is owner, maintainer or reader.
- ``projects`` lists every project a role refers to and every private project, so that an
  import into an empty catalog can grant roles and hide projects before a rebuild restores the
  files (which then land in those projects, private as they were).
- A token's ``projects`` is null (every project of its user) or the names it is limited to;
  ``expires``, ``last_used`` and ``revoked`` are null or times, as ``created`` is.
- Version 1, written before groups and private projects, has no ``groups`` nor ``private``,
  and its roles name users: it is read as it is (a missing key is an empty list, or false).
  Version 2 marks what version 1 cannot hold, so that an older pubkit refuses the file
  ("upgrade pubkit") rather than import it in part, dropping groups and private flags.
- ``upstream`` holds the upstream guard's rules (:mod:`pubkit.server.upstream.index`): a name
  ``reserved`` (served only from this index), ``tracked`` (a local project whose page merges
  the upstream's files), and its own quarantine ``min_age`` in seconds (null: the server's
  ``--upstream-min-age``); only names with a rule are listed. A document with rules is version
  3, so that a pubkit that would drop them refuses it; one without any stays version 2, which
  every pubkit since groups reads whole (a snapshot of an index without an upstream does not
  change version with this release).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pubkit.core.accounts import GROUP_PREFIX, ROLES, Token
from pubkit.core.distributions import normalize_name
from pubkit.errors import UsageError
from pubkit.server.auth.passwords import is_stored_hash
from pubkit.server.auth.tokens import PERMISSIONS
from pubkit.server.catalog.records import GroupRole, Role, UpstreamRule
from pubkit.server.layout import utc_now

ACCESS_FORMAT = "pubkit-access"
ACCESS_VERSION = 3  # 2: groups, group roles, the reader role, private projects; 3: upstream
RULES_VERSION = 3  # the version a document with upstream rules has (without: 2)
_TOKEN_ID = re.compile(r"[0-9a-f]{16}")
_TOKEN_HASH = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class DocumentUser:
    name: str
    password_hash: str
    is_admin: bool
    created: datetime | None
    disabled: bool = False


@dataclass(frozen=True)
class DocumentGroup:
    name: str
    created: datetime | None
    members: tuple[str, ...]


@dataclass(frozen=True)
class DocumentProject:
    name: str
    display_name: str
    created: datetime | None
    private: bool = False


@dataclass(frozen=True)
class AccessDocument:
    users: tuple[DocumentUser, ...]
    projects: tuple[DocumentProject, ...]
    roles: tuple[Role, ...]
    tokens: tuple[tuple[Token, str], ...]  # with the stored hash
    groups: tuple[DocumentGroup, ...] = ()
    group_roles: tuple[GroupRole, ...] = ()
    upstream_rules: tuple[UpstreamRule, ...] = ()


def aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; the catalog stores UTC only.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def invalid(where: str, problem: str) -> UsageError:
    return UsageError(
        f"the access document is invalid: {where} {problem}; use a file written by"
        " `pubkit index export`"
    )


def _field(item: Any, where: str, name: str, kind: type, optional: bool = False) -> Any:
    if not isinstance(item, dict):
        raise invalid(where, "is not an object")
    value = item.get(name)
    if value is None and optional:
        return None
    # bool is an int in Python; a flag must be a real boolean and a string a real string.
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise invalid(f"{where}.{name}", f"must be a {kind.__name__}")
    return value


def _when(item: Any, where: str, name: str = "created") -> datetime | None:
    text = _field(item, where, name, str, optional=True)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise invalid(f"{where}.{name}", "is not an ISO 8601 time") from None
    return aware(value).astimezone(timezone.utc)


def _list(document: dict[str, Any], name: str) -> list[Any]:
    value = document.get(name, [])
    if not isinstance(value, list):
        raise invalid(name, "must be a list")
    return value


def _check_user_name(name: str, where: str) -> None:
    # The rules of `pubkit user add` (admin.add_user), so an import cannot create a user that
    # could not log in.
    if not name or ":" in name or len(name) > 100 or not name.isprintable() or name != name.strip():
        raise invalid(where, "is not a valid user name")
    if name == "__token__":
        raise invalid(where, "is __token__, which is reserved for API tokens")


def _check_group_name(name: str, where: str) -> None:
    # The rules of `pubkit group add` (admin.check_name), without the @ the CLI accepts.
    if (not name or ":" in name or "/" in name or len(name) > 100 or not name.isprintable()
            or name != name.strip() or name.startswith(GROUP_PREFIX)):  # fmt: skip
        raise invalid(where, "is not a valid group name")


def _check_project_name(name: Any, where: str) -> None:
    if not isinstance(name, str) or not name or normalize_name(name) != name:
        raise invalid(where, "is not a normalized project name")


def _parse_token(item: Any, where: str) -> tuple[Token, str]:
    token_id = _field(item, where, "id", str)
    if not _TOKEN_ID.fullmatch(token_id):
        raise invalid(f"{where}.id", "is not a token id (16 hexadecimal digits)")
    stored_hash = _field(item, where, "secret_hash", str)
    # Only the keyed hash is ever stored; a token pasted here must not be, nor be echoed.
    if stored_hash.startswith("pubkit_"):
        raise invalid(f"{where}.secret_hash", "is a token, not its hash")
    if not _TOKEN_HASH.fullmatch(stored_hash):
        raise invalid(f"{where}.secret_hash", "is not a token hash (64 hexadecimal digits)")
    permission = _field(item, where, "permission", str)
    if permission not in PERMISSIONS:
        raise invalid(f"{where}.permission", f"must be one of {', '.join(PERMISSIONS)}")
    projects = _field(item, where, "projects", list, optional=True)
    for index, name in enumerate(projects or ()):
        _check_project_name(name, f"{where}.projects[{index}]")
    token = Token(
        id=token_id, user=_field(item, where, "user", str), permission=permission,
        projects=tuple(projects) if projects is not None else None,
        description=_field(item, where, "description", str, optional=True),
        created=_when(item, where) or utc_now(), expires=_when(item, where, "expires"),
        last_used=_when(item, where, "last_used"), revoked=_when(item, where, "revoked"),
    )  # fmt: skip
    return token, stored_hash


def parse_access(document: Any) -> AccessDocument:
    """Check a whole access document before anything is written; one-line UsageErrors."""
    if not isinstance(document, dict) or document.get("format") != ACCESS_FORMAT:
        raise UsageError(
            f"not a pubkit access document (format is not {ACCESS_FORMAT!r}); use a file"
            " written by `pubkit index export`"
        )
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise invalid("version", "must be an integer")
    if version > ACCESS_VERSION:
        raise UsageError(
            f"the access document has version {version}, newer than this pubkit reads"
            f" ({ACCESS_VERSION}); upgrade pubkit"
        )
    if version < 1:
        raise invalid("version", f"must be 1 to {ACCESS_VERSION}")
    # Versions 1 and 2 are read as version 3 without the keys they lack: all are optional.

    users: dict[str, DocumentUser] = {}
    for index, item in enumerate(_list(document, "users")):
        where = f"users[{index}]"
        name = _field(item, where, "name", str)
        _check_user_name(name, f"{where}.name")
        password_hash = _field(item, where, "password_hash", str)
        # A hash says which scheme made it; anything else may be a password pasted by hand,
        # which must never be stored as if it were a hash (nor echoed in this message).
        # (A hash migrated from htpasswd stays one until its user's first sign-in.)
        if not is_stored_hash(password_hash):
            raise invalid(f"{where}.password_hash", "is not a scrypt (or migrated) password hash")
        if name in users:
            raise invalid(where, f"repeats the user {name!r}")
        users[name] = DocumentUser(
            name, password_hash, _field(item, where, "is_admin", bool), _when(item, where),
            bool(_field(item, where, "disabled", bool, optional=True)),
        )

    groups: dict[str, DocumentGroup] = {}
    for index, item in enumerate(_list(document, "groups")):
        where = f"groups[{index}]"
        name = _field(item, where, "name", str)
        _check_group_name(name, f"{where}.name")
        if name in groups:
            raise invalid(where, f"repeats the group {name!r}")
        members: list[str] = []
        for position, member in enumerate(_field(item, where, "members", list, optional=True)
                                          or ()):  # fmt: skip
            if not isinstance(member, str):
                raise invalid(f"{where}.members[{position}]", "must be a str")
            if member in members:
                raise invalid(f"{where}.members[{position}]", f"repeats the member {member!r}")
            members.append(member)
        groups[name] = DocumentGroup(name, _when(item, where), tuple(members))

    projects: dict[str, DocumentProject] = {}
    for index, item in enumerate(_list(document, "projects")):
        where = f"projects[{index}]"
        name = _field(item, where, "name", str)
        _check_project_name(name, f"{where}.name")
        display_name = _field(item, where, "display_name", str)
        if name in projects:
            raise invalid(where, f"repeats the project {name!r}")
        private = _field(item, where, "private", bool, optional=True)
        projects[name] = DocumentProject(name, display_name, _when(item, where), bool(private))

    roles: dict[tuple[str, str], Role] = {}
    group_roles: dict[tuple[str, str], GroupRole] = {}
    for index, item in enumerate(_list(document, "roles")):
        where = f"roles[{index}]"
        project = _field(item, where, "project", str)
        role_name = _field(item, where, "role", str)
        if role_name not in ROLES:
            raise invalid(f"{where}.role", f"must be one of {', '.join(ROLES)}")
        if "group" in item and "user" in item:
            raise invalid(where, "names both a user and a group; give one")
        if "group" in item:
            group = _field(item, where, "group", str)
            _check_group_name(group, f"{where}.group")
            if (project, group) in group_roles:
                raise invalid(where, f"repeats the role of {GROUP_PREFIX + group!r} on {project!r}")
            group_roles[(project, group)] = GroupRole(project, group, role_name)
            continue
        if "user" not in item:
            raise invalid(where, "names no holder; give a user or a group")
        role = Role(project, _field(item, where, "user", str), role_name)
        if (role.project, role.user) in roles:
            raise invalid(where, f"repeats the role of {role.user!r} on {role.project!r}")
        roles[(role.project, role.user)] = role

    tokens: dict[str, tuple[Token, str]] = {}
    for index, item in enumerate(_list(document, "tokens")):
        token, stored_hash = _parse_token(item, f"tokens[{index}]")
        if token.id in tokens:
            raise invalid(f"tokens[{index}]", f"repeats the token {token.id!r}")
        tokens[token.id] = (token, stored_hash)

    rules: dict[str, UpstreamRule] = {}
    for index, item in enumerate(_list(document, "upstream")):
        rule = _parse_rule(item, f"upstream[{index}]")
        if rule.name in rules:
            raise invalid(f"upstream[{index}]", f"repeats the name {rule.name!r}")
        rules[rule.name] = rule
    return AccessDocument(
        tuple(users.values()), tuple(projects.values()), tuple(roles.values()),
        tuple(tokens.values()), tuple(groups.values()), tuple(group_roles.values()),
        tuple(rules.values()),
    )  # fmt: skip


def _parse_rule(item: Any, where: str) -> UpstreamRule:
    name = _field(item, where, "name", str)
    _check_project_name(name, f"{where}.name")
    min_age = item.get("min_age")
    if min_age is not None and (isinstance(min_age, bool) or not isinstance(min_age, int | float)
                                or not 0 <= min_age < float("inf")):  # fmt: skip
        raise invalid(f"{where}.min_age", "must be null or a number of seconds, 0 or more")
    rule = UpstreamRule(
        name, bool(_field(item, where, "reserved", bool, optional=True)),
        bool(_field(item, where, "tracked", bool, optional=True)),
        float(min_age) if min_age is not None else None,
    )  # fmt: skip
    if rule.empty:
        raise invalid(where, "sets nothing (reserved, tracked or min_age)")
    return rule
