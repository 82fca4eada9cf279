"""Administrative operations: :class:`Admin` is what the CLI runs on a data dir and what the
admin HTTP API runs for a remote caller (after :mod:`pubkit.server.auth.policy` said yes).
Every change goes to the audit log with its actor and address."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.version import InvalidVersion, Version

from pubkit.core.accounts import (
    GROUP_PREFIX,
    OWNER,
    ROLES,
    AuditEntry,
    Group,
    ProjectInfo,
    RoleGrant,
    Token,
    UserInfo,
)
from pubkit.core.distributions import canonical_filename, is_valid_project_name, normalize_name
from pubkit.core.retention import PruneResult, RetentionPolicy
from pubkit.errors import CatalogError, NotFoundError, PubkitError, UsageError
from pubkit.server.auth.passwords import check_password_strength, hash_password
from pubkit.server.catalog import Catalog, User
from pubkit.server.catalog.records import AuditNote, audit_note, holders
from pubkit.server.inventory import complete, describe_projects, take_inventory
from pubkit.server.layout import (
    SIDECAR_SUFFIX,
    FileRecord,
    check_record,
    file_key,
    is_reserved,
    metadata_key,
    sidecar_key,
    utc_now,
)
from pubkit.server.storage import Storage

if TYPE_CHECKING:
    from pubkit.server.backup import ImportReport

# -- users ---------------------------------------------------------------------------------


def check_name(kind: str, name: str) -> None:
    """User and group names: printable, no colon (Basic auth), no leading @ (it marks groups)."""
    if (not name or ":" in name or len(name) > 100 or not name.isprintable()
            or name != name.strip() or name.startswith(GROUP_PREFIX) or "/" in name):  # fmt: skip
        raise UsageError(
            f"invalid {kind} name {name!r}: use 1 to 100 printable characters, no colon or"
            " slash, not starting with @"
        )


def add_user(
    catalog: Catalog, name: str, password: str, is_admin: bool = False,
    audit: AuditNote | None = None,
) -> User:  # fmt: skip
    check_name("user", name)
    if name == "__token__":
        raise UsageError("__token__ is reserved for API tokens; choose another user name")
    check_password_strength(password)
    return catalog.add_user(name, hash_password(password), is_admin, audit)


def change_password(
    catalog: Catalog, name: str, password: str, audit: AuditNote | None = None
) -> None:
    check_password_strength(password)
    catalog.set_password(name, hash_password(password), audit)


# -- tokens --------------------------------------------------------------------------------


def create_token(
    catalog: Catalog, user_name: str, *, projects: tuple[str, ...] = (),
    permission: str = "upload", expires_in: timedelta | None = None,
    description: str | None = None, actor: str | None = None, address: str | None = None,
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
    audit = audit_note("create token", f"token {token_id}", actor, address, user=user.name,
                       permission=permission, projects=list(scope or ()),
                       expires=expires.isoformat() if expires else None)  # fmt: skip
    token = catalog.add_token(token_id, secret_hash(token_id, secret), user, permission, scope,
                              description, expires, audit)  # fmt: skip
    return token, text


def _new_project_name(project: str) -> str:
    """The normalized name of a project that an operation may create (a role granted or a
    visibility set before the first upload); a name no distribution could carry is refused."""
    if not is_valid_project_name(project):
        raise UsageError(
            f"{project!r} is not a valid project name: use letters, digits and . _ -,"
            " starting and ending with a letter or digit"
        )
    return normalize_name(project)


def revoke_token(
    catalog: Catalog, token_or_id: str, actor: str | None = None, address: str | None = None
) -> Token:
    """Revoke by id, or by the token itself (whose id is its second part)."""
    from pubkit.server.auth.tokens import split_token

    parts = split_token(token_or_id)
    token_id = parts[0] if parts is not None else token_or_id.strip()
    found = catalog.token(token_id)
    owner = found[0].user if found is not None else None
    return catalog.revoke_token(
        token_id, audit_note("revoke token", f"token {token_id}", actor, address, user=owner)
    )


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
    # Objects the rebuild could not adopt, "key: why": reported, their rows left alone.
    skipped: list[str] = field(default_factory=list)
    # Commits a crash interrupted, finished from their staged bytes.
    finished: list[str] = field(default_factory=list)
    # Projects whose summary and requirements were set from their newest release's metadata.
    described: int = 0

    # The access snapshot restored from (None: none), and what its import added.
    access_snapshot: str | None = None
    access: ImportReport | None = None
    # The catalog's access data was stored as the first snapshot (an index from before them).
    access_seeded: bool = False


class AccessStateMissing(CatalogError):
    """Storage holds files but no access state, and the catalog has none to keep."""


@dataclass
class StorageScan:
    records: list[FileRecord] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)  # bytes without a sidecar
    skipped: list[str] = field(default_factory=list)  # "key: why"
    finished: list[str] = field(default_factory=list)
    # Canonical filenames whose sidecar was seen but whose bytes are gone: their rows go.
    lost: set[str] = field(default_factory=set)
    # Canonical filenames whose sidecar could not be adopted: their rows are left alone.
    unreadable: set[str] = field(default_factory=set)


def scan_storage(storage: Storage, tmp_dir: Path | None = None) -> StorageScan:
    """Every complete distribution's record, from one listing pass plus the sidecars;
    commits a crash interrupted are finished on the way (see inventory.complete)."""
    inventory = take_inventory(storage)
    scan = StorageScan()
    for key, entry in sorted(inventory.entries.items()):
        canonical = key.rpartition("/")[2]
        if not entry.sidecar:
            if entry.size is not None:
                scan.incomplete.append(key)
            continue
        try:
            record = FileRecord.from_sidecar(storage.read_bytes(key + SIDECAR_SUFFIX))
            if file_key(record.project, record.filename) != key:
                raise CatalogError(
                    f"the sidecar describes {record.project}/{record.filename}; restore it"
                    " from a backup or remove it"
                )
            check_record(record)
        except (PubkitError, ValueError) as error:
            scan.skipped.append(f"{key}: {error}")
            scan.unreadable.add(canonical)
            continue
        staged = inventory.staged.get(record.sha256, [])
        problem = complete(storage, record, entry, staged, tmp_dir)
        if problem is not None:
            scan.skipped.append(f"{key}: {problem}")
            scan.lost.add(canonical)
            continue
        if staged:
            scan.finished.append(key)
        scan.records.append(record)
    return scan


def restore_access(storage: Storage, catalog: Catalog, report: RebuildReport,
                   files: bool, without_access: bool = False) -> None:  # fmt: skip
    """Add the newest access snapshot's users, groups, roles, private flags, tokens and upstream
    rules to the catalog (additive, as ``index import``: nothing is removed, nothing made
    public).

    Fails closed: an unreadable snapshot stops the rebuild before anything changes, and so
    does a storage with files but no snapshot while the catalog has no access data either
    (its projects' privacy is unknown) unless ``without_access``. A catalog with access data
    and no snapshot in storage (an index from before snapshots) is stored as the first."""
    from pubkit.server.access_format import parse_access
    from pubkit.server.access_state import AccessSnapshots, latest_snapshot, snapshot_number
    from pubkit.server.backup import import_access

    found = latest_snapshot(storage)
    if found is None:
        if AccessSnapshots(storage).seed(catalog):
            report.access_seeded = True
        elif files and not without_access:
            raise AccessStateMissing(
                "storage holds distributions but no access state (users, roles, private"
                " flags), and the catalog has none: rebuilt, every project would be public."
                " Import an access backup first (`pubkit index import FILE`), or pass"
                " --without-access to rebuild the files alone"
            )
        return
    key, document = found
    try:
        parse_access(document)
    except UsageError as error:
        raise CatalogError(f"the access snapshot {key} is unusable ({error.message});"
                           " restore it from a backup") from None  # fmt: skip
    report.access_snapshot = key
    # The catalog holds this snapshot's state once the import commits (recorded in the
    # import's transaction; its own snapshot, when it adds anything, follows this one).
    report.access = import_access(catalog, document, snapshot=snapshot_number(key))


def rebuild_catalog(
    storage: Storage, catalog: Catalog, tmp_dir: Path | None = None, *,
    without_access: bool = False,
) -> RebuildReport:  # fmt: skip
    """Make the catalog match storage: first the access state (:func:`restore_access`),
    then the files; give projects still ownerless their first uploader.

    Nothing is taken away from access: a project keeps its private flag and every role, and
    one that a group owns is not ownerless (its uploaders may be members who hold no role of
    their own). Safe while serving: a row committed after the rebuild began (its project's
    serial moved, or its sidecar is there now) is never removed."""
    report = RebuildReport()
    # Access first (its own changes must not count as rows committed while rebuilding).
    holds_files = any(not is_reserved(obj.key) for obj in storage.list())
    restore_access(storage, catalog, report, holds_files, without_access)
    since = catalog.serial()
    scan = scan_storage(storage, tmp_dir)
    records = scan.records
    report.files, report.incomplete = len(records), scan.incomplete
    report.skipped, report.finished = scan.skipped, scan.finished

    def removable(record: FileRecord) -> bool:
        canonical = canonical_filename(record.filename)
        if canonical in scan.unreadable:
            return False
        if canonical in scan.lost:  # unless an identical re-upload restored its bytes since
            return storage.size(file_key(record.project, record.filename)) != record.size
        return storage.size(sidecar_key(record.project, record.filename)) is None

    report.added, report.updated, report.removed = catalog.replace_files(
        records, since=since, removable=removable
    )
    report.described, unreadable = describe_projects(storage, catalog, records)
    report.skipped.extend(unreadable)
    first_uploader: dict[str, FileRecord] = {}
    for record in records:
        current = first_uploader.get(record.project)
        if current is None or record.upload_time < current.upload_time:
            first_uploader[record.project] = record
    for project in catalog.owners_missing():
        access = catalog.project_access(project)
        if access is not None and OWNER in access.groups.values():
            continue
        first = first_uploader.get(project)
        user = catalog.user(first.uploader) if first and first.uploader else None
        if user is not None:
            catalog.grant(project, user, OWNER)
            report.owners_assigned.append(f"{project}: {user.name}")
    return report


# -- yank ----------------------------------------------------------------------------------


def _release_files(catalog: Catalog, name: str, version: str) -> list[FileRecord]:
    """The files of one release of ``name`` (normalized); NotFoundError naming the others."""
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
    return releases[wanted]


def yank_release(
    storage: Storage,
    catalog: Catalog,
    project: str,
    version: str,
    reason: str | None,
    actor: str | None,
    yanked: bool = True,
    address: str | None = None,
) -> list[FileRecord]:
    """Yank (or unyank) every file of a release: sidecars first, since storage is the truth."""
    name = normalize_name(project)
    for record in _release_files(catalog, name, version):
        storage.put_bytes(
            sidecar_key(record.project, record.filename),
            record.with_yank(yanked, reason).to_sidecar(),
        )
    files = _release_files(catalog, name, version)
    audit = audit_note("yank" if yanked else "unyank", f"{name} {version}", actor, address,
                       reason=reason, files=len(files))  # fmt: skip
    return catalog.set_yanked(name, version, yanked, reason, actor, audit)


# -- the operations as one object ----------------------------------------------------------


class Admin:
    """:class:`~pubkit.core.accounts.AdminOperations` on a catalog and its storage, acting as
    ``actor`` (from ``address``, when it came over the network)."""

    def __init__(
        self, catalog: Catalog, storage: Callable[[], Storage], actor: str | None,
        address: str | None = None,
    ) -> None:  # fmt: skip
        self.catalog = catalog
        self._storage = storage
        self.actor = actor
        self.address = address

    def _note(self, action: str, target: str, **detail: Any) -> AuditNote:
        """The audit row of a change, written in the change's own transaction."""
        return audit_note(action, target, self.actor, self.address, **detail)

    # users

    def users(self) -> list[UserInfo]:
        member_of: dict[str, list[str]] = defaultdict(list)
        for group in self.catalog.groups():
            for member in group.members:
                member_of[member].append(group.name)
        return [UserInfo(user.name, user.is_admin, user.created, tuple(member_of[user.name]),
                         user.disabled) for user in self.catalog.users()]  # fmt: skip

    def add_user(self, name: str, password: str, is_admin: bool = False) -> UserInfo:
        user = add_user(self.catalog, name, password, is_admin,
                        self._note("add user", name, admin=is_admin))  # fmt: skip
        return UserInfo(user.name, user.is_admin, user.created)

    def remove_user(self, name: str) -> None:
        self.catalog.remove_user(name, self._note("remove user", name))

    def set_password(self, name: str, password: str) -> None:
        self._user(name)
        change_password(self.catalog, name, password, self._note("change password", name))

    def set_admin(self, name: str, is_admin: bool) -> None:
        """Make a user an administrator, or no longer (never the last one)."""
        self.catalog.set_admin(name, is_admin, self._note(
            "make admin" if is_admin else "unmake admin", name))  # fmt: skip

    def set_disabled(self, name: str, disabled: bool) -> None:
        """Disable a user (no sign-in with their password, tokens or web sessions) or enable
        them again; their roles, memberships and tokens stay."""
        self.catalog.set_disabled(name, disabled, self._note(
            "disable user" if disabled else "enable user", name))  # fmt: skip

    def _user(self, name: str) -> User:
        user = self.catalog.user(name)
        if user is None:
            raise NotFoundError(f"no user {name!r}; `pubkit user list` shows who exists")
        return user

    # groups

    def groups(self) -> list[Group]:
        return self.catalog.groups()

    def add_group(self, name: str) -> Group:
        name = name.removeprefix(GROUP_PREFIX)
        check_name("group", name)
        return self.catalog.add_group(name, self._note("add group", GROUP_PREFIX + name))

    def remove_group(self, name: str) -> None:
        name = name.removeprefix(GROUP_PREFIX)
        self.catalog.remove_group(name, self._note("remove group", GROUP_PREFIX + name))

    def add_member(self, group: str, user: str) -> None:
        self._set_member(group, user, True)

    def remove_member(self, group: str, user: str) -> None:
        self._set_member(group, user, False)

    def _set_member(self, group: str, user: str, member: bool) -> None:
        group = group.removeprefix(GROUP_PREFIX)
        note = self._note("add member" if member else "remove member", GROUP_PREFIX + group,
                          user=user)  # fmt: skip
        if not self.catalog.set_member(group, user, member, note) and not member:
            raise NotFoundError(f"{user} is not a member of {GROUP_PREFIX}{group}")

    # tokens

    def tokens(self, user: str | None = None) -> list[Token]:
        return self.catalog.tokens(user)

    def create_token(
        self, user: str, projects: tuple[str, ...] = (), permission: str = "upload",
        expires_in: timedelta | None = None, description: str | None = None,
    ) -> tuple[Token, str]:  # fmt: skip
        return create_token(self.catalog, user, projects=projects, permission=permission,
                            expires_in=expires_in, description=description, actor=self.actor,
                            address=self.address)  # fmt: skip

    def revoke_token(self, token_or_id: str) -> Token:
        return revoke_token(self.catalog, token_or_id, self.actor, self.address)

    # projects and roles

    def project(self, project: str) -> ProjectInfo:
        name = normalize_name(project)
        access = self.catalog.project_access(name)
        if access is None:
            raise NotFoundError(f"no project {name!r} on this index")
        roles = tuple(RoleGrant(name, holder, role) for holder, role in holders(access))
        return ProjectInfo(name, access.private, roles)

    def grant(self, project: str, holder: str, role: str) -> None:
        """Give a user or ``@group`` a role on a project, replacing the one they had there
        (creating the project, so that rights can precede the first upload)."""
        if role not in ROLES:
            raise UsageError(f"role {role!r} is unknown; use one of {', '.join(ROLES)}")
        name = _new_project_name(project)
        note = self._note("grant role", name, holder=holder, role=role)
        if holder.startswith(GROUP_PREFIX):
            group = holder.removeprefix(GROUP_PREFIX)
            if self.catalog.group(group) is None:
                raise NotFoundError(f"no group {holder!r}; `pubkit group list` shows the groups")
            self.catalog.grant_group(name, group, role, note)
        else:
            self.catalog.grant(name, self._user(holder), role, create=True, audit=note)

    def revoke(self, project: str, holder: str, role: str) -> None:
        """Take ``role`` away from a user or ``@group``; a project keeps at least one owner
        (checked in the revoking transaction, so concurrent revokes cannot race it)."""
        if role not in ROLES:
            raise UsageError(f"role {role!r} is unknown; use one of {', '.join(ROLES)}")
        name = normalize_name(project)
        note = self._note("revoke role", name, holder=holder, role=role)
        self.catalog.revoke_role(name, holder, role, note)

    def set_private(self, project: str, private: bool) -> None:
        name = _new_project_name(project)
        note = self._note("make private" if private else "make public", name)
        self.catalog.set_private(name, private, note)

    # the upstream guard (pubkit/server/upstream/)

    def reserve(self, project: str, reserved: bool = True) -> bool:
        """Serve ``project`` only from this index, whatever an upstream has."""
        name = _new_project_name(project)
        note = self._note("reserve name" if reserved else "release name", name)
        return self.catalog.set_upstream_rule(name, note, reserved=reserved)

    def track(self, project: str, tracked: bool) -> bool:
        """Merge (or stop merging) the upstream's files of ``project`` into its local page."""
        name = normalize_name(project)
        if tracked and self.catalog.project(name) is None:
            raise NotFoundError(f"project {name!r} is not on this index; only a local project"
                                " tracks its upstream (other names are served from it anyway)")
        note = self._note("track upstream" if tracked else "untrack upstream", name)
        return self.catalog.set_upstream_rule(name, note, tracked=tracked)

    def set_min_age(self, project: str, seconds: float | None) -> bool:
        """The quarantine of ``project``'s upstream files (None: the server's default)."""
        name = _new_project_name(project)
        note = self._note("set upstream min age", name, seconds=seconds)
        return self.catalog.set_upstream_rule(name, note, min_age=seconds)

    def upstream_status(self, sources: list[str]) -> dict[str, Any]:
        """Each upstream's reachability and the cache's size in storage (a running server
        adds its own counts: the admin API's answer)."""
        from pubkit.server.upstream import maintenance

        return {"upstreams": maintenance.reachability(sources),
                "cache": maintenance.usage(self._storage()).to_json(),
                "pages": None, "files": None, "last_error": None}  # fmt: skip

    def prune_upstream(self, older_than: float, dry_run: bool = False) -> dict[str, Any]:
        """Remove upstream files and pages cached more than ``older_than`` seconds ago."""
        from pubkit.server.upstream import maintenance

        report = maintenance.prune(self._storage(), older_than, dry_run)
        if not dry_run and (report.files or report.pages):
            self.catalog.audit("prune upstream cache", ".upstream/", self.actor, self.address,
                               older_than=older_than, **report.to_json())  # fmt: skip
        return report.to_json()

    # releases

    def yank(self, project: str, version: str, reason: str | None, yanked: bool = True) -> int:
        return len(yank_release(self._storage(), self.catalog, project, version, reason,
                                self.actor, yanked, self.address))  # fmt: skip

    def delete_release(self, project: str, version: str, action: str = "delete") -> int:
        """Delete every file of a release from storage and the catalog: sidecars first, so
        that a failure half-way leaves files a rebuild ignores rather than resurrects."""
        name = normalize_name(project)
        records = _release_files(self.catalog, name, version)
        storage = self._storage()
        for record in records:
            storage.delete(sidecar_key(record.project, record.filename))
        for record in records:
            storage.delete(metadata_key(record.project, record.filename))
            storage.delete(file_key(record.project, record.filename))
        filenames = [r.filename for r in records]
        note = self._note(action, f"{name} {version}", files=filenames)
        deleted = self.catalog.delete_files(name, filenames, self.actor, note)
        # The newest release left describes the project now (a metadata unreadable: as it was).
        describe_projects(storage, self.catalog, self.catalog.project_files(name))
        return deleted

    def prune(self, policy: RetentionPolicy, dry_run: bool = False) -> PruneResult:
        """Remove the releases ``policy`` does not keep (see :mod:`pubkit.server.pruning`)."""
        from pubkit.server import pruning

        def delete(project: str, version: str) -> int:
            return self.delete_release(project, version, action="prune")

        return pruning.prune(self.catalog, self._storage(), policy, delete, dry_run)

    def audit(self, limit: int = 100) -> list[AuditEntry]:
        return self.catalog.audit_entries(limit)
