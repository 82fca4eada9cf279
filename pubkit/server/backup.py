"""The access document: export, parsing and import of an index's access data.

Storage holds every file with its metadata and sidecar, and, under ``.access/``, the
access document as of the last change of users, groups, roles, private flags, API tokens or
upstream rules (:mod:`pubkit.server.access_state`), from which ``pubkit index rebuild``
recreates the whole catalog. A mirror of the storage (:mod:`pubkit.server.mirror`) is
therefore a complete backup; an export of the access data (:func:`export_access`) is a copy
of the access part alone, for moving it between indexes or keeping it apart.

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

Import is additive and idempotent: it adds what is missing (users, groups, members, projects,
roles, tokens, upstream rules), changes what differs only with ``replace`` (a user's hash and
admin flag, the role of a user or group, a token, a name's upstream rule), and never removes a
user, group, member, role, token or rule the catalog has and the document lacks. A project the
document marks private is made private; an import never makes a private project public,
``replace`` or not (`pubkit project public` does). A user's or group's creation and a token's
creation and last use are the catalog's own record, and an import never revives a revoked
token. It runs in one transaction, so a failure leaves the catalog as it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from pubkit.core.accounts import GROUP_PREFIX, ROLES, Group, Token
from pubkit.core.distributions import normalize_name
from pubkit.errors import (
    AlreadyExistsError,
    CatalogError,
    NotFoundError,
    UsageError,
)
from pubkit.server.auth.passwords import is_stored_hash
from pubkit.server.auth.tokens import PERMISSIONS
from pubkit.server.catalog import Catalog
from pubkit.server.catalog.catalog import (
    Access,
    AccessWriter,
    GroupRole,
    Role,
    UpstreamRule,
    User,
)
from pubkit.server.layout import (
    utc_now,
)
from pubkit.server.storage import Storage

ACCESS_FORMAT = "pubkit-access"
ACCESS_VERSION = 3  # 2: groups, group roles, the reader role, private projects; 3: upstream
RULES_VERSION = 3  # the version a document with upstream rules has (without: 2)
CHUNK = 1024 * 1024
_TOKEN_ID = re.compile(r"[0-9a-f]{16}")
_TOKEN_HASH = re.compile(r"[0-9a-f]{64}")

# -- the access document -------------------------------------------------------------------


@dataclass(frozen=True)
class _User:
    name: str
    password_hash: str
    is_admin: bool
    created: datetime | None
    disabled: bool = False


@dataclass(frozen=True)
class _Group:
    name: str
    created: datetime | None
    members: tuple[str, ...]


@dataclass(frozen=True)
class _Project:
    name: str
    display_name: str
    created: datetime | None
    private: bool = False


@dataclass(frozen=True)
class _Access:
    users: tuple[_User, ...]
    projects: tuple[_Project, ...]
    roles: tuple[Role, ...]
    tokens: tuple[tuple[Token, str], ...]  # with the stored hash
    groups: tuple[_Group, ...] = ()
    group_roles: tuple[GroupRole, ...] = ()
    upstream_rules: tuple[UpstreamRule, ...] = ()


@dataclass
class ImportReport:
    """What an import did; names and token ids only (never a hash), so it can be printed."""

    users_added: list[str] = field(default_factory=list)
    users_updated: list[str] = field(default_factory=list)
    # Users the catalog has with another hash or admin flag, left alone (no ``replace``).
    users_kept: list[str] = field(default_factory=list)
    users_unchanged: int = 0
    groups_added: list[str] = field(default_factory=list)
    groups_unchanged: int = 0
    members_added: list[str] = field(default_factory=list)  # "@group: user"
    members_unchanged: int = 0
    projects_created: list[str] = field(default_factory=list)
    projects_made_private: list[str] = field(default_factory=list)
    # Private here, public in the document: left private (an import never makes one public).
    projects_kept_private: list[str] = field(default_factory=list)
    # Roles of users ("project: user (role)") and of groups ("project: @group (role)").
    roles_granted: list[str] = field(default_factory=list)
    roles_changed: list[str] = field(default_factory=list)
    roles_kept: list[str] = field(default_factory=list)
    roles_unchanged: int = 0
    tokens_added: list[str] = field(default_factory=list)
    tokens_updated: list[str] = field(default_factory=list)
    tokens_kept: list[str] = field(default_factory=list)
    tokens_unchanged: int = 0
    # Upstream rules, as "name (reserved, tracked, min_age 259200 s)".
    rules_added: list[str] = field(default_factory=list)
    rules_changed: list[str] = field(default_factory=list)
    rules_kept: list[str] = field(default_factory=list)
    rules_unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(
            self.users_added
            or self.users_updated
            or self.groups_added
            or self.members_added
            or self.projects_created
            or self.projects_made_private
            or self.roles_granted
            or self.roles_changed
            or self.tokens_added
            or self.tokens_updated
            or self.rules_added
            or self.rules_changed
        )

    def summary(self) -> str:
        """The counts on one line (what `pubkit index import` prints)."""
        return (
            f"users {len(self.users_added)} added, {len(self.users_updated)} updated,"
            f" {len(self.users_kept)} kept, {self.users_unchanged} unchanged;"
            f" groups {len(self.groups_added)} added, {self.groups_unchanged} unchanged;"
            f" members {len(self.members_added)} added, {self.members_unchanged} unchanged;"
            f" {len(self.projects_created)} projects created,"
            f" {len(self.projects_made_private)} made private,"
            f" {len(self.projects_kept_private)} kept private;"
            f" roles {len(self.roles_granted)} granted, {len(self.roles_changed)} changed,"
            f" {len(self.roles_kept)} kept, {self.roles_unchanged} unchanged;"
            f" tokens {len(self.tokens_added)} added, {len(self.tokens_updated)} updated,"
            f" {len(self.tokens_kept)} kept, {self.tokens_unchanged} unchanged;"
            f" upstream rules {len(self.rules_added)} added, {len(self.rules_changed)} changed,"
            f" {len(self.rules_kept)} kept, {self.rules_unchanged} unchanged"
        )


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; the catalog stores UTC only.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _time(value: datetime) -> str:
    return _aware(value).astimezone(timezone.utc).isoformat()


def _maybe_time(value: datetime | None) -> str | None:
    return _time(value) if value is not None else None


def export_access(catalog: Catalog) -> dict[str, Any]:
    """The catalog's users, groups, roles, tokens and the projects that roles refer to or
    that are private, as a document (read in one transaction)."""
    with _catalog_errors("read the users and roles"):
        access = catalog.access()
    return access_document(access)


def access_document(access: Access) -> dict[str, Any]:
    """The access document of access data read at one moment (what an export writes, and
    what every access change stores: :mod:`pubkit.server.access_state`)."""
    referenced = {role.project for role in access.roles}
    referenced.update(role.project for role in access.group_roles)
    roles = [
        *({"project": role.project, "user": role.user, "role": role.role}
          for role in access.roles),
        *({"project": role.project, "group": role.group, "role": role.role}
          for role in access.group_roles),
    ]  # fmt: skip
    # By project, its users' roles before its groups' (both lists come sorted by name).
    roles.sort(key=lambda role: (role["project"], "group" in role))
    document: dict[str, Any] = {
        "format": ACCESS_FORMAT,
        "version": RULES_VERSION if access.upstream_rules else 2,
        "users": [
            {
                "name": user.name,
                "password_hash": user.password_hash,
                "is_admin": user.is_admin,
                "created": _time(user.created),
                # Only when set: the documents of indexes that disable nobody stay as they were.
                **({"disabled": True} if user.disabled else {}),
            }
            for user in access.users
        ],
        "groups": [
            {"name": group.name, "created": _time(group.created), "members": list(group.members)}
            for group in access.groups
        ],
        "projects": [
            {
                "name": project.name,
                "display_name": project.display_name,
                "created": _time(project.created),
                "private": project.private,
            }
            for project in access.projects
            if project.name in referenced or project.private
        ],
        "roles": roles,
        "tokens": [
            {
                "id": token.id,
                "user": token.user,
                "secret_hash": stored_hash,
                "permission": token.permission,
                "projects": list(token.projects) if token.projects is not None else None,
                "description": token.description,
                "created": _time(token.created),
                "expires": _maybe_time(token.expires),
                "last_used": _maybe_time(token.last_used),
                "revoked": _maybe_time(token.revoked),
            }
            for token, stored_hash in access.tokens
        ],
    }
    if access.upstream_rules:
        document["upstream"] = [
            {"name": rule.name, "reserved": rule.reserved, "tracked": rule.tracked,
             "min_age": rule.min_age}
            for rule in access.upstream_rules
        ]  # fmt: skip
    return document


def write_access_file(path: Path, document: Mapping[str, Any], force: bool = False) -> None:
    """Write the document with mode 0600 (it holds password hashes), atomically.

    Without ``force`` an existing file is refused: an export must not clobber another backup.
    """
    data = (json.dumps(document, indent=1, sort_keys=True) + "\n").encode()
    if not force and (path.exists() or path.is_symlink()):
        raise AlreadyExistsError(f"{path} exists; pass --force to overwrite it")
    try:
        # mkstemp creates the file 0600 whatever the umask, so the hashes are never readable by
        # others, not even for a moment; the rename makes the file appear whole.
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror}") from None
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if force:
            temp.replace(path)
        else:
            # link() refuses an existing target: create-if-absent even against a racing export.
            os.link(temp, path)
    except FileExistsError:
        raise AlreadyExistsError(f"{path} exists; pass --force to overwrite it") from None
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror}") from None
    finally:
        temp.unlink(missing_ok=True)


def write_access_object(
    storage: Storage, key: str, document: Mapping[str, Any], force: bool = False
) -> None:
    """Write the document as one object; without ``force`` an existing one is refused (a
    create-if-absent write, so two exports racing for one name cannot both win)."""
    data = (json.dumps(document, indent=1, sort_keys=True) + "\n").encode()
    if force:
        storage.put_bytes(key, data)
        return
    with tempfile.TemporaryDirectory(prefix="pubkit-export-") as spool:
        source = Path(spool) / "access.json"
        source.write_bytes(data)
        if not storage.put_new(key, source):
            raise AlreadyExistsError(f"{key} exists in {storage!r}; pass --force to overwrite it")


def read_access_object(storage: Storage, key: str) -> Any:
    """The parsed JSON of an access document stored as one object."""
    try:
        raw = storage.read_bytes(key)
    except NotFoundError:
        raise UsageError(f"{key} is not in {storage!r}; check the URL") from None
    return _parse_json(raw, key)


def read_access_file(path: Path) -> Any:
    """The parsed JSON of an access document (checked later by :func:`import_access`)."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    return _parse_json(raw, str(path))


def _parse_json(raw: bytes, where: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        # The position only: the message of a JSON error can quote the document (hashes).
        line = f" (line {error.lineno})" if isinstance(error, json.JSONDecodeError) else ""
        raise UsageError(
            f"{where} is not valid JSON{line}; use a file written by `pubkit index export`"
        ) from None


def _bad(where: str, problem: str) -> UsageError:
    return UsageError(
        f"the access document is invalid: {where} {problem}; use a file written by"
        " `pubkit index export`"
    )


def _field(item: Any, where: str, name: str, kind: type, optional: bool = False) -> Any:
    if not isinstance(item, dict):
        raise _bad(where, "is not an object")
    value = item.get(name)
    if value is None and optional:
        return None
    # bool is an int in Python; a flag must be a real boolean and a string a real string.
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise _bad(f"{where}.{name}", f"must be a {kind.__name__}")
    return value


def _when(item: Any, where: str, name: str = "created") -> datetime | None:
    text = _field(item, where, name, str, optional=True)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(f"{where}.{name}", "is not an ISO 8601 time") from None
    return _aware(value).astimezone(timezone.utc)


def _list(document: dict[str, Any], name: str) -> list[Any]:
    value = document.get(name, [])
    if not isinstance(value, list):
        raise _bad(name, "must be a list")
    return value


def _check_user_name(name: str, where: str) -> None:
    # The rules of `pubkit user add` (admin.add_user), so an import cannot create a user that
    # could not log in.
    if not name or ":" in name or len(name) > 100 or not name.isprintable() or name != name.strip():
        raise _bad(where, "is not a valid user name")
    if name == "__token__":
        raise _bad(where, "is __token__, which is reserved for API tokens")


def _check_group_name(name: str, where: str) -> None:
    # The rules of `pubkit group add` (admin.check_name), without the @ the CLI accepts.
    if (not name or ":" in name or "/" in name or len(name) > 100 or not name.isprintable()
            or name != name.strip() or name.startswith(GROUP_PREFIX)):  # fmt: skip
        raise _bad(where, "is not a valid group name")


def _check_project_name(name: Any, where: str) -> None:
    if not isinstance(name, str) or not name or normalize_name(name) != name:
        raise _bad(where, "is not a normalized project name")


def _parse_token(item: Any, where: str) -> tuple[Token, str]:
    token_id = _field(item, where, "id", str)
    if not _TOKEN_ID.fullmatch(token_id):
        raise _bad(f"{where}.id", "is not a token id (16 hexadecimal digits)")
    stored_hash = _field(item, where, "secret_hash", str)
    # Only the keyed hash is ever stored; a token pasted here must not be, nor be echoed.
    if stored_hash.startswith("pubkit_"):
        raise _bad(f"{where}.secret_hash", "is a token, not its hash")
    if not _TOKEN_HASH.fullmatch(stored_hash):
        raise _bad(f"{where}.secret_hash", "is not a token hash (64 hexadecimal digits)")
    permission = _field(item, where, "permission", str)
    if permission not in PERMISSIONS:
        raise _bad(f"{where}.permission", f"must be one of {', '.join(PERMISSIONS)}")
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


def parse_access(document: Any) -> _Access:
    """Check a whole access document before anything is written; one-line UsageErrors."""
    if not isinstance(document, dict) or document.get("format") != ACCESS_FORMAT:
        raise UsageError(
            f"not a pubkit access document (format is not {ACCESS_FORMAT!r}); use a file"
            " written by `pubkit index export`"
        )
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _bad("version", "must be an integer")
    if version > ACCESS_VERSION:
        raise UsageError(
            f"the access document has version {version}, newer than this pubkit reads"
            f" ({ACCESS_VERSION}); upgrade pubkit"
        )
    if version < 1:
        raise _bad("version", f"must be 1 to {ACCESS_VERSION}")
    # Versions 1 and 2 are read as version 3 without the keys they lack: all are optional.

    users: dict[str, _User] = {}
    for index, item in enumerate(_list(document, "users")):
        where = f"users[{index}]"
        name = _field(item, where, "name", str)
        _check_user_name(name, f"{where}.name")
        password_hash = _field(item, where, "password_hash", str)
        # A hash says which scheme made it; anything else may be a password pasted by hand,
        # which must never be stored as if it were a hash (nor echoed in this message).
        # (A hash migrated from htpasswd stays one until its user's first sign-in.)
        if not is_stored_hash(password_hash):
            raise _bad(f"{where}.password_hash", "is not a scrypt (or migrated) password hash")
        if name in users:
            raise _bad(where, f"repeats the user {name!r}")
        users[name] = _User(
            name, password_hash, _field(item, where, "is_admin", bool), _when(item, where),
            bool(_field(item, where, "disabled", bool, optional=True)),
        )

    groups: dict[str, _Group] = {}
    for index, item in enumerate(_list(document, "groups")):
        where = f"groups[{index}]"
        name = _field(item, where, "name", str)
        _check_group_name(name, f"{where}.name")
        if name in groups:
            raise _bad(where, f"repeats the group {name!r}")
        members: list[str] = []
        for position, member in enumerate(_field(item, where, "members", list, optional=True)
                                          or ()):  # fmt: skip
            if not isinstance(member, str):
                raise _bad(f"{where}.members[{position}]", "must be a str")
            if member in members:
                raise _bad(f"{where}.members[{position}]", f"repeats the member {member!r}")
            members.append(member)
        groups[name] = _Group(name, _when(item, where), tuple(members))

    projects: dict[str, _Project] = {}
    for index, item in enumerate(_list(document, "projects")):
        where = f"projects[{index}]"
        name = _field(item, where, "name", str)
        _check_project_name(name, f"{where}.name")
        display_name = _field(item, where, "display_name", str)
        if name in projects:
            raise _bad(where, f"repeats the project {name!r}")
        private = _field(item, where, "private", bool, optional=True)
        projects[name] = _Project(name, display_name, _when(item, where), bool(private))

    roles: dict[tuple[str, str], Role] = {}
    group_roles: dict[tuple[str, str], GroupRole] = {}
    for index, item in enumerate(_list(document, "roles")):
        where = f"roles[{index}]"
        project = _field(item, where, "project", str)
        role_name = _field(item, where, "role", str)
        if role_name not in ROLES:
            raise _bad(f"{where}.role", f"must be one of {', '.join(ROLES)}")
        if "group" in item and "user" in item:
            raise _bad(where, "names both a user and a group; give one")
        if "group" in item:
            group = _field(item, where, "group", str)
            _check_group_name(group, f"{where}.group")
            if (project, group) in group_roles:
                raise _bad(where, f"repeats the role of {GROUP_PREFIX + group!r} on {project!r}")
            group_roles[(project, group)] = GroupRole(project, group, role_name)
            continue
        if "user" not in item:
            raise _bad(where, "names no holder; give a user or a group")
        role = Role(project, _field(item, where, "user", str), role_name)
        if (role.project, role.user) in roles:
            raise _bad(where, f"repeats the role of {role.user!r} on {role.project!r}")
        roles[(role.project, role.user)] = role

    tokens: dict[str, tuple[Token, str]] = {}
    for index, item in enumerate(_list(document, "tokens")):
        token, stored_hash = _parse_token(item, f"tokens[{index}]")
        if token.id in tokens:
            raise _bad(f"tokens[{index}]", f"repeats the token {token.id!r}")
        tokens[token.id] = (token, stored_hash)

    rules: dict[str, UpstreamRule] = {}
    for index, item in enumerate(_list(document, "upstream")):
        rule = _parse_rule(item, f"upstream[{index}]")
        if rule.name in rules:
            raise _bad(f"upstream[{index}]", f"repeats the name {rule.name!r}")
        rules[rule.name] = rule
    return _Access(
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
        raise _bad(f"{where}.min_age", "must be null or a number of seconds, 0 or more")
    rule = UpstreamRule(
        name, bool(_field(item, where, "reserved", bool, optional=True)),
        bool(_field(item, where, "tracked", bool, optional=True)),
        float(min_age) if min_age is not None else None,
    )  # fmt: skip
    if rule.empty:
        raise _bad(where, "sets nothing (reserved, tracked or min_age)")
    return rule


def _rule_label(rule: UpstreamRule) -> str:
    parts = [part for part, on in (("reserved", rule.reserved), ("tracked", rule.tracked)) if on]
    if rule.min_age is not None:
        parts.append(f"min_age {rule.min_age:g} s")
    return f"{rule.name} ({', '.join(parts) or 'no rule'})"


@contextlib.contextmanager
def _catalog_errors(action: str) -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as error:
        # The driver's own message can quote statement parameters (password hashes): the
        # error's class is all that is said.
        raise CatalogError(
            f"could not {action} ({type(error).__name__}); check the catalog URL and that the"
            " database is reachable, then retry"
        ) from None


def import_access(
    catalog: Catalog, document: Any, replace: bool = False, snapshot: int | None = None
) -> ImportReport:
    """Add the document's users, groups and their members, projects (private ones made
    private), roles, tokens and upstream rules to the catalog (see the module docstring), in
    one transaction.

    An existing user, role, token or upstream rule that differs from the document is kept and
    reported, unless ``replace``: then it is set to the document's (a user's hash and admin
    flag, a name's whole rule).
    ``snapshot``: the number of storage's access snapshot the document is (a rebuild).
    """
    access = parse_access(document)
    report = ImportReport()
    with _catalog_errors("import the users and roles"), catalog.transaction(
            snapshot, document if snapshot is not None else None) as txn:  # fmt: skip
        current = txn.access()
        users = {user.name: user for user in current.users}
        for user in access.users:
            _import_user(txn, user, users.get(user.name), replace, report)
        known_users = users.keys() | {user.name for user in access.users}
        groups = {group.name: group for group in current.groups}
        for group in access.groups:
            for member in group.members:
                if member not in known_users:
                    raise _bad("groups", f"name the user {member!r}, who is neither in users"
                               " nor in the catalog")  # fmt: skip
            _import_group(txn, group, groups.get(group.name), report)
        known_groups = groups.keys() | {group.name for group in access.groups}
        # Ownerless on purpose: a project's roles follow from the document alone
        # (claim_project would make someone owner), so export -> import -> export gives the
        # same document.
        private = {project.name for project in current.projects if project.private}
        for project in access.projects:
            if txn.ensure_project(project.name, project.display_name, project.created):
                report.projects_created.append(project.name)
            if project.private and project.name not in private:
                txn.set_private(project.name, True)
                report.projects_made_private.append(project.name)
            elif not project.private and project.name in private:
                report.projects_kept_private.append(project.name)
        known_projects = {p.name for p in current.projects} | {p.name for p in access.projects}
        roles = {(role.project, role.user): role.role for role in current.roles}
        for role in access.roles:
            if role.project not in known_projects:
                raise _bad("roles", f"name the project {role.project!r}, which is neither in"
                           " projects nor in the catalog")  # fmt: skip
            if role.user not in known_users:
                raise _bad("roles", f"name the user {role.user!r}, who is neither in users nor"
                           " in the catalog")  # fmt: skip
            existing = roles.get((role.project, role.user))
            if _import_role(role.project, role.user, role.role, existing, replace, report):
                txn.set_role(role.project, role.user, role.role)
        group_roles = {(role.project, role.group): role.role for role in current.group_roles}
        for grant in access.group_roles:
            if grant.project not in known_projects:
                raise _bad("roles", f"name the project {grant.project!r}, which is neither in"
                           " projects nor in the catalog")  # fmt: skip
            if grant.group not in known_groups:
                raise _bad("roles", f"name the group {grant.group!r}, which is neither in groups"
                           " nor in the catalog")  # fmt: skip
            existing = group_roles.get((grant.project, grant.group))
            holder = GROUP_PREFIX + grant.group
            if _import_role(grant.project, holder, grant.role, existing, replace, report):
                txn.set_group_role(grant.project, grant.group, grant.role)
        tokens = {token.id: (token, stored_hash) for token, stored_hash in current.tokens}
        for token, stored_hash in access.tokens:
            if token.user not in known_users:
                raise _bad("tokens", f"name the user {token.user!r}, who is neither in users"
                           " nor in the catalog")  # fmt: skip
            _import_token(txn, token, stored_hash, tokens.get(token.id), replace, report)
        rules = {rule.name: rule for rule in current.upstream_rules}
        for rule in access.upstream_rules:
            _import_rule(txn, rule, rules.get(rule.name), replace, report)
    return report


def _import_rule(
    txn: AccessWriter, rule: UpstreamRule, existing: UpstreamRule | None, replace: bool,
    report: ImportReport,
) -> None:  # fmt: skip
    if existing == rule:
        report.rules_unchanged += 1
    elif existing is not None and not replace:
        report.rules_kept.append(_rule_label(existing))
    else:
        txn.set_upstream_rule(rule)
        (report.rules_added if existing is None else report.rules_changed).append(
            _rule_label(rule))


def _import_user(
    txn: AccessWriter, user: _User, existing: User | None, replace: bool, report: ImportReport
) -> None:
    if existing is None:
        txn.add_user(user.name, user.password_hash, user.is_admin, user.created)
        if user.disabled:
            txn.set_user(user.name, user.password_hash, user.is_admin, disabled=True)
        report.users_added.append(user.name)
    elif (existing.password_hash, existing.is_admin, existing.disabled) == (
            user.password_hash, user.is_admin, user.disabled):  # fmt: skip
        report.users_unchanged += 1
    elif not replace:
        report.users_kept.append(user.name)
    else:
        txn.set_user(user.name, user.password_hash, user.is_admin, user.disabled)
        report.users_updated.append(user.name)


def _import_group(
    txn: AccessWriter, group: _Group, existing: Group | None, report: ImportReport
) -> None:
    """Add the group unless it exists, and the members it lacks (never removing one)."""
    if existing is None:
        txn.add_group(group.name, group.created)
        report.groups_added.append(group.name)
    else:
        report.groups_unchanged += 1
    present = set(existing.members) if existing is not None else set()
    for member in group.members:
        if member in present:
            report.members_unchanged += 1
        else:
            txn.set_member(group.name, member)
            report.members_added.append(f"{GROUP_PREFIX}{group.name}: {member}")


def _import_role(
    project: str, holder: str, role: str, existing: str | None, replace: bool,
    report: ImportReport,
) -> bool:  # fmt: skip
    """Report the role of a user or ``@group``; whether the document's role is to be set."""
    if existing == role:
        report.roles_unchanged += 1
        return False
    if existing is not None and not replace:
        report.roles_kept.append(f"{project}: {holder} ({existing})")
        return False
    label = f"{project}: {holder} ({role})"
    (report.roles_granted if existing is None else report.roles_changed).append(label)
    return True


def _import_token(
    txn: AccessWriter, token: Token, stored_hash: str, existing: tuple[Token, str] | None,
    replace: bool, report: ImportReport,
) -> None:  # fmt: skip
    if existing is None:
        txn.add_token(token, stored_hash)
        report.tokens_added.append(token.id)
        return
    current, current_hash = existing
    # When it was created and last used are this catalog's record; a revocation is never undone.
    wanted = dataclasses.replace(
        token, created=current.created, last_used=current.last_used,
        revoked=current.revoked or token.revoked,
    )  # fmt: skip
    if wanted == current and stored_hash == current_hash:
        report.tokens_unchanged += 1
    elif not replace:
        report.tokens_kept.append(token.id)
    else:
        txn.set_token(wanted, stored_hash)
        report.tokens_updated.append(token.id)
