"""Administrative operations shared by the CLI and (later) the admin HTTP API."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from packaging.version import InvalidVersion, Version

from pubkit.core.distributions import normalize_name
from pubkit.errors import CatalogError, NotFoundError, UsageError
from pubkit.server.auth.passwords import check_password_strength, hash_password
from pubkit.server.catalog import OWNER, Catalog, User
from pubkit.server.catalog.catalog import Token
from pubkit.server.layout import (
    METADATA_SUFFIX,
    SIDECAR_SUFFIX,
    FileRecord,
    file_key,
    sidecar_key,
    utc_now,
)
from pubkit.server.storage import Storage

# -- users ---------------------------------------------------------------------------------


def add_user(catalog: Catalog, name: str, password: str, is_admin: bool = False) -> User:
    if not name or ":" in name or len(name) > 100 or not name.isprintable() or name != name.strip():
        raise UsageError(f"invalid user name {name!r}: use 1 to 100 printable characters, no colon")
    if name == "__token__":
        raise UsageError("__token__ is reserved for API tokens; choose another user name")
    check_password_strength(password)
    return catalog.add_user(name, hash_password(password), is_admin)


def change_password(catalog: Catalog, name: str, password: str) -> None:
    check_password_strength(password)
    catalog.set_password(name, hash_password(password))


# -- roles ---------------------------------------------------------------------------------

GRANTABLE_ROLES = ("owner", "maintainer")  # reader comes with private projects


def grant_role(catalog: Catalog, project: str, user_name: str, role: str,
               actor: str | None = None) -> None:  # fmt: skip
    """Give a user a role on a project (creating the project, so rights can precede the
    first upload)."""
    if role not in GRANTABLE_ROLES:
        raise UsageError(f"role {role!r} is unknown; use one of {', '.join(GRANTABLE_ROLES)}")
    user = catalog.user(user_name)
    if user is None:
        raise NotFoundError(f"no user {user_name!r}; `pubkit user list` shows who exists")
    name = normalize_name(project)
    catalog.grant(name, user, role, create=True)
    catalog.audit("grant role", name, actor, user=user.name, role=role)


def revoke_role(catalog: Catalog, project: str, user_name: str, role: str,
                actor: str | None = None) -> None:  # fmt: skip
    """Take ``role`` away from a user on a project; the last owner cannot be removed."""
    user = catalog.user(user_name)
    if user is None:
        raise NotFoundError(f"no user {user_name!r}; `pubkit user list` shows who exists")
    name = normalize_name(project)
    roles = dict(catalog.project_roles(name))
    if roles.get(user.name) != role:
        raise NotFoundError(
            f"{user.name} is not {role} of {name}; `pubkit role list {name}` shows its roles"
        )
    if role == OWNER and list(roles.values()).count(OWNER) == 1:
        raise UsageError(f"{user.name} is the last owner of {name}; grant another owner first")
    catalog.revoke(name, user)
    catalog.audit("revoke role", name, actor, user=user.name, role=role)


# -- tokens --------------------------------------------------------------------------------


def create_token(
    catalog: Catalog, user_name: str, *, projects: tuple[str, ...] = (),
    permission: str = "upload", expires_in: timedelta | None = None,
    description: str | None = None, actor: str | None = None,
) -> tuple[Token, str]:  # fmt: skip
    """A new token of ``user_name``; returns it and its text, which is never stored."""
    from pubkit.server.auth.tokens import PERMISSIONS, new_token, secret_hash

    if permission not in PERMISSIONS:
        raise UsageError(f"permission {permission!r} is unknown; use read or upload")
    user = catalog.user(user_name)
    if user is None:
        raise NotFoundError(f"no user {user_name!r}; `pubkit user list` shows who exists")
    scope = tuple(sorted({normalize_name(project) for project in projects})) or None
    expires = utc_now() + expires_in if expires_in is not None else None
    token_id, secret, text = new_token()
    token = catalog.add_token(token_id, secret_hash(token_id, secret), user, permission, scope,
                              description, expires)  # fmt: skip
    catalog.audit("create token", f"token {token_id}", actor, user=user.name,
                  permission=permission, projects=list(scope or ()),
                  expires=expires.isoformat() if expires else None)  # fmt: skip
    return token, text


def revoke_token(catalog: Catalog, token_or_id: str, actor: str | None = None) -> Token:
    """Revoke by id, or by the token itself (whose id is its second part)."""
    from pubkit.server.auth.tokens import split_token

    parts = split_token(token_or_id)
    token_id = parts[0] if parts is not None else token_or_id.strip()
    token = catalog.revoke_token(token_id)
    catalog.audit("revoke token", f"token {token_id}", actor, user=token.user)
    return token


# -- rebuild -------------------------------------------------------------------------------


@dataclass
class RebuildReport:
    files: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    owners_assigned: list[str] = field(default_factory=list)
    # Distributions whose sidecar is missing (an upload that crashed before its end): not listed.
    incomplete: list[str] = field(default_factory=list)


def scan_storage(storage: Storage) -> tuple[list[FileRecord], list[str]]:
    """Every complete distribution's record, from one listing pass plus the sidecars."""
    keys = {obj.key for obj in storage.list()}
    records: list[FileRecord] = []
    incomplete: list[str] = []
    for key in sorted(keys):
        if key.endswith((SIDECAR_SUFFIX, METADATA_SUFFIX)):
            continue
        if key + SIDECAR_SUFFIX not in keys:
            incomplete.append(key)
            continue
        record = FileRecord.from_sidecar(storage.read_bytes(key + SIDECAR_SUFFIX))
        if file_key(record.project, record.filename) != key:
            raise CatalogError(
                f"the sidecar of {key} describes {record.project}/{record.filename}; restore it"
                " from a backup or remove it"
            )
        records.append(record)
    return records, incomplete


def rebuild_catalog(storage: Storage, catalog: Catalog) -> RebuildReport:
    """Make the catalog's files match storage; give ownerless projects their first uploader."""
    records, incomplete = scan_storage(storage)
    report = RebuildReport(files=len(records), incomplete=incomplete)
    report.added, report.updated, report.removed = catalog.replace_files(records)
    first_uploader: dict[str, FileRecord] = {}
    for record in records:
        current = first_uploader.get(record.project)
        if current is None or record.upload_time < current.upload_time:
            first_uploader[record.project] = record
    for project in catalog.owners_missing():
        first = first_uploader.get(project)
        user = catalog.user(first.uploader) if first and first.uploader else None
        if user is not None:
            catalog.grant(project, user, OWNER)
            report.owners_assigned.append(f"{project}: {user.name}")
    return report


# -- yank ----------------------------------------------------------------------------------


def yank_release(
    storage: Storage,
    catalog: Catalog,
    project: str,
    version: str,
    reason: str | None,
    actor: str | None,
    yanked: bool = True,
) -> list[FileRecord]:
    """Yank (or unyank) every file of a release: sidecars first, since storage is the truth."""
    name = normalize_name(project)
    try:
        wanted = Version(version)
    except InvalidVersion:
        raise UsageError(f"{version!r} is not a valid version") from None
    releases: dict[Version, list[FileRecord]] = defaultdict(list)
    for record in catalog.project_files(name):
        releases[Version(record.version)].append(record)
    if wanted not in releases:
        known = ", ".join(str(v) for v in sorted(releases)) or "none"
        raise NotFoundError(f"{name} has no release {version}; its releases: {known}")
    for record in releases[wanted]:
        storage.put_bytes(
            sidecar_key(record.project, record.filename),
            record.with_yank(yanked, reason).to_sidecar(),
        )
    changed = catalog.set_yanked(name, version, yanked, reason, actor)
    catalog.audit("yank" if yanked else "unyank", f"{name} {version}", actor, reason=reason,
                  files=len(changed))  # fmt: skip
    return changed
