"""The access document: export and import of an index's access data.

Storage holds every file with its metadata and sidecar, and, under ``.access/``, the
access document as of the last change of users, groups, roles, private flags, API tokens or
upstream rules (:mod:`pubkit.server.access_state`), from which ``pubkit index rebuild``
recreates the whole catalog. A mirror of the storage (:mod:`pubkit.server.mirror`) is
therefore a complete backup; an export of the access data (:func:`export_access`) is a copy
of the access part alone, for moving it between indexes or keeping it apart.

Its format and its parsing are :mod:`pubkit.server.access_format`.

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
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from pubkit.core.accounts import GROUP_PREFIX, Group, Token
from pubkit.errors import (
    AlreadyExistsError,
    CatalogError,
    NotFoundError,
    UsageError,
)
from pubkit.server.access_format import (
    ACCESS_FORMAT,
    RULES_VERSION,
    DocumentGroup,
    DocumentUser,
    aware,
    invalid,
    parse_access,
)
from pubkit.server.catalog import Catalog
from pubkit.server.catalog.access_writer import AccessWriter
from pubkit.server.catalog.records import Access, UpstreamRule, User
from pubkit.server.storage import Storage

CHUNK = 1024 * 1024

# -- the access document -------------------------------------------------------------------


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


def _time(value: datetime) -> str:
    return aware(value).astimezone(timezone.utc).isoformat()


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
                    raise invalid("groups", f"name the user {member!r}, who is neither in users"
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
                raise invalid("roles", f"name the project {role.project!r}, which is neither in"
                           " projects nor in the catalog")  # fmt: skip
            if role.user not in known_users:
                raise invalid("roles", f"name the user {role.user!r}, who is neither in users nor"
                           " in the catalog")  # fmt: skip
            existing = roles.get((role.project, role.user))
            if _import_role(role.project, role.user, role.role, existing, replace, report):
                txn.set_role(role.project, role.user, role.role)
        group_roles = {(role.project, role.group): role.role for role in current.group_roles}
        for grant in access.group_roles:
            if grant.project not in known_projects:
                raise invalid("roles", f"name the project {grant.project!r}, which is neither in"
                           " projects nor in the catalog")  # fmt: skip
            if grant.group not in known_groups:
                raise invalid("roles", f"name the group {grant.group!r}, which is neither in groups"
                           " nor in the catalog")  # fmt: skip
            existing = group_roles.get((grant.project, grant.group))
            holder = GROUP_PREFIX + grant.group
            if _import_role(grant.project, holder, grant.role, existing, replace, report):
                txn.set_group_role(grant.project, grant.group, grant.role)
        tokens = {token.id: (token, stored_hash) for token, stored_hash in current.tokens}
        for token, stored_hash in access.tokens:
            if token.user not in known_users:
                raise invalid("tokens", f"name the user {token.user!r}, who is neither in users"
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
    txn: AccessWriter, user: DocumentUser, existing: User | None, replace: bool,
    report: ImportReport,
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
    txn: AccessWriter, group: DocumentGroup, existing: Group | None, report: ImportReport
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
