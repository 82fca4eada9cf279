"""The access model as administrators see it: users, groups, roles, tokens, the audit log.

Plain data with its JSON form, shared by the catalog (which stores it), the admin HTTP API
(which sends it) and the CLI (which shows it, from a local data dir or from a remote server
through :class:`AdminOperations`). Nothing here imports the server's dependencies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from pubkit.errors import UsageError

if TYPE_CHECKING:
    from pubkit.core.retention import PruneResult, RetentionPolicy

OWNER = "owner"
MAINTAINER = "maintainer"
READER = "reader"
# Best first: someone holding several roles (directly and through groups) has the best one.
ROLES = (OWNER, MAINTAINER, READER)
UPLOAD_ROLES = (OWNER, MAINTAINER)
GROUP_PREFIX = "@"


_DURATION = re.compile(r"^(?P<count>\d+)(?P<unit>[hdw])$")


def parse_duration(text: str, option: str = "--expires") -> timedelta:
    """A duration such as a token lifetime (``--expires``): ``12h``, ``30d``, ``8w``."""
    match = _DURATION.match(text.strip().lower())
    if not match or int(match["count"]) == 0:
        raise UsageError(f"{option} {text!r}: use a positive count of h, d or w, e.g. 30d")
    unit = {"h": "hours", "d": "days", "w": "weeks"}[match["unit"]]
    return timedelta(**{unit: int(match["count"])})


def best_role(roles: list[str]) -> str | None:
    known = [role for role in roles if role in ROLES]
    return min(known, key=ROLES.index) if known else None


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Token:
    """An API token as stored (its secret never is)."""

    id: str
    user: str
    permission: str  # read | upload
    projects: tuple[str, ...] | None  # normalized names; None: every project of the user
    description: str | None
    created: datetime
    expires: datetime | None
    last_used: datetime | None
    revoked: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and self.expires <= now:
            return "expired"
        return "active"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "user": self.user, "permission": self.permission,
            "projects": list(self.projects) if self.projects is not None else None,
            "description": self.description, "created": _time(self.created),
            "expires": _time(self.expires), "last_used": _time(self.last_used),
            "revoked": _time(self.revoked),
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Token:
        projects = data.get("projects")
        created = _parse_time(data["created"])
        assert created is not None
        return cls(
            id=data["id"], user=data["user"], permission=data["permission"],
            projects=tuple(projects) if projects is not None else None,
            description=data.get("description"), created=created,
            expires=_parse_time(data.get("expires")), last_used=_parse_time(data.get("last_used")),
            revoked=_parse_time(data.get("revoked")),
        )  # fmt: skip


@dataclass(frozen=True)
class AuditEntry:
    id: int
    time: datetime
    actor: str | None
    address: str | None
    action: str
    target: str
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "time": _time(self.time), "actor": self.actor,
                "address": self.address, "action": self.action, "target": self.target,
                "detail": self.detail}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuditEntry:
        time = _parse_time(data["time"])
        assert time is not None
        return cls(data["id"], time, data.get("actor"), data.get("address"), data["action"],
                   data["target"], dict(data.get("detail") or {}))  # fmt: skip


@dataclass(frozen=True)
class UserInfo:
    """A user as shown to administrators (never with the password hash)."""

    name: str
    is_admin: bool
    created: datetime
    groups: tuple[str, ...] = ()
    disabled: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "admin": self.is_admin, "created": _time(self.created),
                "groups": list(self.groups), "disabled": self.disabled}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UserInfo:
        created = _parse_time(data["created"])
        assert created is not None
        return cls(data["name"], bool(data["admin"]), created, tuple(data.get("groups") or ()),
                   bool(data.get("disabled", False)))


@dataclass(frozen=True)
class Group:
    name: str
    created: datetime
    members: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "created": _time(self.created), "members": list(self.members)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Group:
        created = _parse_time(data["created"])
        assert created is not None
        return cls(data["name"], created, tuple(data.get("members") or ()))


@dataclass(frozen=True)
class RoleGrant:
    """``holder`` is a user name or ``@group``."""

    project: str
    holder: str
    role: str

    @property
    def is_group(self) -> bool:
        return self.holder.startswith(GROUP_PREFIX)

    def to_json(self) -> dict[str, Any]:
        return {"project": self.project, "holder": self.holder, "role": self.role}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RoleGrant:
        return cls(data["project"], data["holder"], data["role"])


@dataclass(frozen=True)
class ProjectInfo:
    name: str
    private: bool
    roles: tuple[RoleGrant, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "private": self.private,
                "roles": [grant.to_json() for grant in self.roles]}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProjectInfo:
        roles = tuple(RoleGrant.from_json(item) for item in data.get("roles") or ())
        return cls(data["name"], bool(data["private"]), roles)


class AdminOperations(Protocol):
    """What ``pubkit user|group|token|role|project|yank|audit`` do: on a data dir
    (:class:`pubkit.server.admin.Admin`) or on a running server through its admin API
    (:class:`pubkit.adapters.admin_client.AdminClient`)."""

    def users(self) -> list[UserInfo]: ...
    def add_user(self, name: str, password: str, is_admin: bool = False) -> UserInfo: ...
    def remove_user(self, name: str) -> None: ...
    def set_password(self, name: str, password: str) -> None: ...
    def set_admin(self, name: str, is_admin: bool) -> None: ...
    def set_disabled(self, name: str, disabled: bool) -> None: ...

    def groups(self) -> list[Group]: ...
    def add_group(self, name: str) -> Group: ...
    def remove_group(self, name: str) -> None: ...
    def add_member(self, group: str, user: str) -> None: ...
    def remove_member(self, group: str, user: str) -> None: ...

    def tokens(self, user: str | None = None) -> list[Token]: ...
    def create_token(
        self, user: str, projects: tuple[str, ...] = (), permission: str = "upload",
        expires_in: timedelta | None = None, description: str | None = None,
    ) -> tuple[Token, str]: ...  # fmt: skip
    def revoke_token(self, token_or_id: str) -> Token: ...

    def project(self, project: str) -> ProjectInfo: ...
    def grant(self, project: str, holder: str, role: str) -> None: ...
    def revoke(self, project: str, holder: str, role: str) -> None: ...
    def set_private(self, project: str, private: bool) -> None: ...
    def reserve(self, project: str, reserved: bool = True) -> bool: ...
    def track(self, project: str, tracked: bool) -> bool: ...
    def set_min_age(self, project: str, seconds: float | None) -> bool: ...
    def upstream_status(self, sources: list[str]) -> dict[str, Any]: ...
    def prune_upstream(self, older_than: float, dry_run: bool = False) -> dict[str, Any]: ...

    def yank(self, project: str, version: str, reason: str | None, yanked: bool = True) -> int: ...
    def delete_release(self, project: str, version: str) -> int: ...

    def prune(self, policy: RetentionPolicy, dry_run: bool = False) -> PruneResult: ...

    def audit(self, limit: int = 100) -> list[AuditEntry]: ...
