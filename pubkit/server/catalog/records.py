"""The catalog's rows as plain data: frozen dataclasses of what it holds (users, projects,
roles, the access state as a whole, the upstream guard's rules, audit notes to write), and
the pure conversions between them and the database's rows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pubkit.core.accounts import GROUP_PREFIX, Group, Token
from pubkit.core.distributions import canonical_filename
from pubkit.server.layout import FileRecord


@dataclass(frozen=True)
class AuditNote:
    """An audit row to write in the same transaction as the change it records (and only
    if that transaction changed something)."""

    action: str
    target: str
    actor: str | None
    address: str | None = None
    detail: dict[str, Any] | None = None


def audit_note(
    action: str, target: str, actor: str | None, address: str | None = None, **detail: Any
) -> AuditNote:
    return AuditNote(action, target, actor, address, detail or None)


@dataclass(frozen=True)
class UpstreamRule:
    """What the upstream guard knows about one name (see schema.upstream_rules)."""

    name: str
    reserved: bool
    tracked: bool
    min_age: float | None

    @property
    def empty(self) -> bool:
        """Says nothing the server's own settings would not (a name released again)."""
        return not self.reserved and not self.tracked and self.min_age is None


@dataclass(frozen=True)
class ProjectSummary:
    name: str
    display_name: str
    last_serial: int
    private: bool = False


@dataclass(frozen=True)
class User:
    id: int
    name: str
    password_hash: str
    is_admin: bool
    created: datetime
    disabled: bool = False


@dataclass(frozen=True)
class Project:
    """A project's own record (:class:`ProjectSummary` is what the pages show)."""

    name: str
    display_name: str
    created: datetime
    private: bool = False


@dataclass(frozen=True)
class Role:
    project: str
    user: str
    role: str


@dataclass(frozen=True)
class GroupRole:
    """A role held by a group (``group`` without its ``@``)."""

    project: str
    group: str
    role: str


@dataclass(frozen=True)
class Access:
    """Users, groups (with their members), projects (with their private flag), the roles of
    users and of groups, tokens (each with its stored hash) and the upstream guard's rules,
    as read at one moment."""

    users: tuple[User, ...]
    projects: tuple[Project, ...]
    roles: tuple[Role, ...]
    tokens: tuple[tuple[Token, str], ...]
    groups: tuple[Group, ...] = ()
    group_roles: tuple[GroupRole, ...] = ()
    upstream_rules: tuple[UpstreamRule, ...] = ()


@dataclass(frozen=True)
class ProjectAccess:
    """Who may see and touch a project: its visibility and the roles held on it."""

    private: bool
    users: dict[str, str]  # user name -> role
    groups: dict[str, str]  # group name -> role


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _record(row: Any, project: str) -> FileRecord:
    return FileRecord(
        project=project,
        display_name=row.display_name,
        version=row.version,
        filename=row.filename,
        packagetype=row.packagetype,
        size=row.size,
        sha256=row.sha256,
        md5=row.md5,
        blake2_256=row.blake2_256,
        requires_python=row.requires_python,
        metadata_sha256=row.metadata_sha256,
        upload_time=_aware(row.upload_time),
        uploader=row.uploader,
        yanked=bool(row.yanked),
        yanked_reason=row.yanked_reason,
    )


def _summary(row: Any) -> ProjectSummary:
    return ProjectSummary(row.name, row.display_name, row.last_serial, bool(row.private))


def _maybe_aware(value: datetime | None) -> datetime | None:
    return _aware(value) if value is not None else None


def _token(row: Any) -> Token:
    return Token(
        id=row.id, user=row.user_name, permission=row.permission,
        projects=tuple(json.loads(row.projects)) if row.projects is not None else None,
        description=row.description, created=_aware(row.created),
        expires=_maybe_aware(row.expires), last_used=_maybe_aware(row.last_used),
        revoked=_maybe_aware(row.revoked),
    )  # fmt: skip


def _user(row: Any) -> User:
    return User(row.id, row.name, row.password_hash, bool(row.is_admin), _aware(row.created),
                bool(row.disabled))


def _token_values(token: Token, user_id: int, stored_hash: str) -> dict[str, Any]:
    return {
        "id": token.id, "user_id": user_id, "secret_hash": stored_hash,
        "permission": token.permission,
        "projects": json.dumps(list(token.projects)) if token.projects is not None else None,
        "description": token.description, "created": token.created, "expires": token.expires,
        "last_used": token.last_used, "revoked": token.revoked,
    }  # fmt: skip


def _file_values(record: FileRecord) -> dict[str, Any]:
    return {
        "filename": record.filename,
        "canonical_filename": canonical_filename(record.filename),
        "version": record.version,
        "packagetype": record.packagetype,
        "size": record.size,
        "sha256": record.sha256,
        "md5": record.md5,
        "blake2_256": record.blake2_256,
        "requires_python": record.requires_python,
        "metadata_sha256": record.metadata_sha256,
        "upload_time": record.upload_time,
        "uploader": record.uploader,
        "yanked": record.yanked,
        "yanked_reason": record.yanked_reason,
    }


def holders(access: ProjectAccess) -> list[tuple[str, str]]:
    """``(holder, role)`` pairs of a project's access: users by name, then ``@groups``."""
    groups = [(GROUP_PREFIX + group, role) for group, role in sorted(access.groups.items())]
    return [*sorted(access.users.items()), *groups]
