"""The catalog's access data: users, roles, groups, private flags, tokens and the upstream
guard's rules, everything an access snapshot holds (:mod:`pubkit.server.access_state`). Each
change of it is one :meth:`CatalogBase._change`: stored as a snapshot before it commits."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from pubkit.core.accounts import GROUP_PREFIX, OWNER, Group, Token
from pubkit.errors import AlreadyExistsError, NotFoundError, UsageError
from pubkit.server.catalog import schema
from pubkit.server.catalog.access_writer import AccessWriter
from pubkit.server.catalog.base import CatalogBase, _groups, _upstream_rules
from pubkit.server.catalog.records import (
    Access,
    AuditNote,
    ProjectAccess,
    UpstreamRule,
    User,
    _aware,
    _token,
    _token_values,
    _user,
    holders,
)
from pubkit.server.layout import utc_now


class AccessCatalog(CatalogBase):
    """Reads and writes of the access data (the part of :class:`Catalog` that access
    snapshots hold)."""

    # -- users and roles -------------------------------------------------------------------

    def add_user(
        self, name: str, password_hash: str, is_admin: bool = False,
        audit: AuditNote | None = None,
    ) -> User:  # fmt: skip
        try:
            with self._change("add the user", audit) as conn:
                self._add_user(conn, name, password_hash, is_admin)
        except IntegrityError:
            raise AlreadyExistsError(
                f"user {name!r} already exists; use `pubkit user passwd {name}` to change"
                " the password"
            ) from None
        user = self.user(name)
        assert user is not None
        return user

    def _add_user(
        self, conn: Connection, name: str, password_hash: str, is_admin: bool,
        created: datetime | None = None,
    ) -> None:  # fmt: skip
        self._journal(conn, "", "add user", actor=name)
        conn.execute(
            insert(schema.users).values(
                name=name,
                password_hash=password_hash,
                is_admin=is_admin,
                created=created or utc_now(),
            )
        )

    def user(self, name: str) -> User | None:
        with self._connect() as conn:
            row = conn.execute(select(schema.users).where(schema.users.c.name == name)).first()
        return _user(row) if row is not None else None

    def users(self) -> list[User]:
        with self._connect() as conn:
            rows = conn.execute(select(schema.users).order_by(schema.users.c.name)).all()
        return [_user(row) for row in rows]

    def remove_user(self, name: str, audit: AuditNote | None = None) -> None:
        with self._change("remove the user", audit) as conn:
            result = conn.execute(delete(schema.users).where(schema.users.c.name == name))
            self._journal(conn, "", "remove user", actor=name)
            if result.rowcount == 0:
                raise NotFoundError(f"no user {name!r}; `pubkit user list` shows who exists")

    def set_admin(self, name: str, is_admin: bool, audit: AuditNote | None = None) -> bool:
        """Make ``name`` an administrator or not; whether that changed anything. The last
        administrator stays one (checked in this transaction: concurrent changes cannot race
        it), or nobody could administer the index through the API."""
        users = schema.users.c
        with self._change("change the administrator flag", audit) as conn:
            row = conn.execute(select(users.is_admin).where(users.name == name)).first()
            if row is None:
                raise NotFoundError(f"no user {name!r}; `pubkit user list` shows who exists")
            if bool(row.is_admin) == is_admin:
                return False
            if not is_admin:
                others = conn.execute(select(func.count()).select_from(schema.users).where(
                    users.is_admin.is_(True), users.disabled.is_(False),
                    users.name != name)).scalar()  # fmt: skip
                if not others:
                    raise UsageError(f"{name} is the last administrator; make another user"
                                     " an administrator first")  # fmt: skip
            conn.execute(update(schema.users).where(users.name == name)
                         .values(is_admin=is_admin))  # fmt: skip
            self._journal(conn, "", "set admin" if is_admin else "unset admin", actor=name)
        return True

    def set_disabled(self, name: str, disabled: bool, audit: AuditNote | None = None) -> bool:
        """Disable a user (no sign-in anywhere, their web sessions end) or enable them again;
        whether that changed anything. The last enabled administrator stays enabled."""
        users = schema.users.c
        with self._change("disable or enable the user", audit) as conn:
            row = conn.execute(select(users.disabled, users.is_admin)
                               .where(users.name == name)).first()  # fmt: skip
            if row is None:
                raise NotFoundError(f"no user {name!r}; `pubkit user list` shows who exists")
            if bool(row.disabled) == disabled:
                return False
            if disabled and row.is_admin:
                others = conn.execute(select(func.count()).select_from(schema.users).where(
                    users.is_admin.is_(True), users.disabled.is_(False),
                    users.name != name)).scalar()  # fmt: skip
                if not others:
                    raise UsageError(f"{name} is the last enabled administrator; make another"
                                     " user an administrator first")  # fmt: skip
            conn.execute(update(schema.users).where(users.name == name)
                         .values(disabled=disabled))  # fmt: skip
            self._journal(conn, "", "disable user" if disabled else "enable user", actor=name)
            if disabled:
                from pubkit.server.catalog.web import end_sessions_of

                end_sessions_of(conn, name)
        return True

    def set_password(
        self, name: str, password_hash: str, audit: AuditNote | None = None
    ) -> None:
        with self._change("change the password", audit) as conn:
            result = conn.execute(
                update(schema.users)
                .where(schema.users.c.name == name)
                .values(password_hash=password_hash)
            )
            self._journal(conn, "", "change password", actor=name)
            if result.rowcount == 0:
                raise NotFoundError(f"no user {name!r}; `pubkit user list` shows who exists")
            from pubkit.server.catalog.web import end_sessions_of

            end_sessions_of(conn, name)  # a new password signs the old one's sessions out

    def upgrade_password(
        self, name: str, old_hash: str, new_hash: str, audit: AuditNote | None = None
    ) -> bool:
        """Replace a user's hash only if it is still ``old_hash`` (a migrated legacy hash that
        a sign-in just verified); whether it was replaced. A password changed meanwhile stays."""
        with self._change("upgrade the password hash", audit) as conn:
            result = conn.execute(
                update(schema.users)
                .where(schema.users.c.name == name, schema.users.c.password_hash == old_hash)
                .values(password_hash=new_hash)
            )
            if result.rowcount:
                self._journal(conn, "", "upgrade password hash", actor=name)
        return bool(result.rowcount)

    def role(self, project: str, user: User) -> str | None:
        with self._connect() as conn:
            return conn.execute(
                select(schema.roles.c.role)
                .join(schema.projects, schema.roles.c.project_id == schema.projects.c.id)
                .where(and_(schema.projects.c.name == project, schema.roles.c.user_id == user.id))
            ).scalar()

    def grant(
        self, project: str, user: User, role: str, create: bool = False,
        audit: AuditNote | None = None,
    ) -> None:  # fmt: skip
        """Give ``user`` ``role`` on ``project`` (replacing their role there); with ``create``,
        a project that does not exist yet is created, so that rights can be given before the
        first upload. Taking the owner role from the last owner is refused."""
        with self._change("grant the role", audit) as conn:
            if create:
                project_id, _created = self._ensure_project(conn, project, project)
            else:
                found = conn.execute(
                    select(schema.projects.c.id).where(schema.projects.c.name == project)
                ).scalar()
                if found is None:
                    raise NotFoundError(f"no project {project!r}")
                project_id = int(found)
            if role != OWNER:
                self._keep_an_owner(conn, project, project_id, user.name)
            self._grant(conn, project, project_id, user.name, user.id, role)

    def revoke_role(
        self, project: str, holder: str, role: str, audit: AuditNote | None = None
    ) -> None:
        """Take ``role`` on ``project`` from a user or ``@group``: NotFoundError unless they
        hold it; UsageError if they are its last owner. Checked and done in one transaction
        that other access changes wait for, so two owners revoked at once cannot both go."""
        with self._change("revoke the role", audit) as conn:
            project_id = self._id_of(conn, schema.projects, project, "project")
            holders = dict(self._roles_of(conn, project_id))
            if holders.get(holder) != role:
                raise NotFoundError(f"{holder} is not {role} of {project}; `pubkit project show"
                                    f" {project}` shows its roles")  # fmt: skip
            if role == OWNER:
                self._keep_an_owner(conn, project, project_id, holder)
            if holder.startswith(GROUP_PREFIX):
                group_id = self._id_of(conn, schema.access_groups,
                                       holder.removeprefix(GROUP_PREFIX), "group")  # fmt: skip
                conn.execute(delete(schema.group_roles).where(and_(
                    schema.group_roles.c.project_id == project_id,
                    schema.group_roles.c.group_id == group_id)))  # fmt: skip
            else:
                user_id = self._id_of(conn, schema.users, holder, "user")
                conn.execute(delete(schema.roles).where(and_(
                    schema.roles.c.project_id == project_id,
                    schema.roles.c.user_id == user_id)))  # fmt: skip
            self._journal(conn, project, f"revoke {role}", actor=holder)

    def _roles_of(self, conn: Connection, project_id: int) -> list[tuple[str, str]]:
        """``(holder, role)`` of a project as this transaction sees it (groups with @)."""
        users = conn.execute(
            select(schema.users.c.name, schema.roles.c.role)
            .join(schema.roles, schema.roles.c.user_id == schema.users.c.id)
            .where(schema.roles.c.project_id == project_id)
        ).all()
        groups = conn.execute(
            select(schema.access_groups.c.name, schema.group_roles.c.role)
            .join(schema.group_roles, schema.group_roles.c.group_id == schema.access_groups.c.id)
            .where(schema.group_roles.c.project_id == project_id)
        ).all()
        return [*((r.name, r.role) for r in users),
                *((GROUP_PREFIX + r.name, r.role) for r in groups)]  # fmt: skip

    def _keep_an_owner(self, conn: Connection, project: str, project_id: int, holder: str) -> None:
        """Refuse to take the owner role from ``holder`` when no other owner would remain."""
        owners = [name for name, role in self._roles_of(conn, project_id) if role == OWNER]
        if owners == [holder]:
            raise UsageError(f"{holder} is the last owner of {project}; grant another owner"
                             " first")  # fmt: skip

    def project_roles(self, project: str) -> list[tuple[str, str]]:
        """``(holder, role)`` pairs of ``project``: users by name, then ``@groups``."""
        access = self.project_access(project)
        return holders(access) if access is not None else []

    def project_access(self, project: str) -> ProjectAccess | None:
        """Visibility and roles of ``project``; None when there is no such project."""
        with self._connect() as conn:
            found = conn.execute(
                select(schema.projects.c.id, schema.projects.c.private)
                .where(schema.projects.c.name == project)
            ).first()  # fmt: skip
            if found is None:
                return None
            users = conn.execute(
                select(schema.users.c.name, schema.roles.c.role)
                .join(schema.roles, schema.roles.c.user_id == schema.users.c.id)
                .where(schema.roles.c.project_id == found.id)
            ).all()
            groups = conn.execute(
                select(schema.access_groups.c.name, schema.group_roles.c.role)
                .join(schema.group_roles,
                      schema.group_roles.c.group_id == schema.access_groups.c.id)
                .where(schema.group_roles.c.project_id == found.id)
            ).all()  # fmt: skip
        return ProjectAccess(bool(found.private), {r.name: r.role for r in users},
                             {r.name: r.role for r in groups})  # fmt: skip

    def private_projects(self) -> frozenset[str]:
        with self._connect() as conn:
            rows = conn.execute(
                select(schema.projects.c.name).where(schema.projects.c.private.is_(True))
            ).all()
        return frozenset(row.name for row in rows)

    def set_private(self, project: str, private: bool, audit: AuditNote | None = None) -> bool:
        """Make ``project`` private or public (creating it, so that a name can be kept
        private before its first upload); whether anything changed."""
        with self._change("change the project's visibility", audit) as conn:
            txn = AccessWriter(self, conn)
            txn.ensure_project(project, project)
            return txn.set_private(project, private)

    # -- the upstream guard's rules ---------------------------------------------------------

    def upstream_rules(self) -> dict[str, UpstreamRule]:
        """Every name with a rule (reserved, tracked, or its own quarantine)."""
        with self._connect() as conn:
            return {rule.name: rule for rule in _upstream_rules(conn)}

    def set_upstream_rule(
        self, name: str, audit: AuditNote | None = None, *, reserved: bool | None = None,
        tracked: bool | None = None, min_age: float | Literal["unset"] | None = "unset",
    ) -> bool:  # fmt: skip
        """Change the rule of ``name`` (normalized); whether anything changed. Journaled, so
        that every worker's pages follow at once, and part of the access state (a rebuilt
        catalog has it back: :mod:`pubkit.server.access_state`)."""
        with self._change("change the upstream rule", audit) as conn:
            txn = AccessWriter(self, conn)
            old = txn.upstream_rule(name)
            new = UpstreamRule(
                name,
                old.reserved if reserved is None else reserved,
                old.tracked if tracked is None else tracked,
                old.min_age if min_age == "unset" else min_age,
            )
            return txn.set_upstream_rule(new)

    # -- groups ----------------------------------------------------------------------------

    def add_group(self, name: str, audit: AuditNote | None = None) -> Group:
        try:
            with self._change("add the group", audit) as conn:
                AccessWriter(self, conn).add_group(name)
        except IntegrityError:
            raise AlreadyExistsError(
                f"group {name!r} already exists; `pubkit group list` shows its members"
            ) from None
        group = self.group(name)
        assert group is not None
        return group

    def remove_group(self, name: str, audit: AuditNote | None = None) -> None:
        """Remove a group, its memberships and the roles it held."""
        with self._change("remove the group", audit) as conn:
            result = conn.execute(
                delete(schema.access_groups).where(schema.access_groups.c.name == name)
            )
            if result.rowcount == 0:
                raise NotFoundError(f"no group {name!r}; `pubkit group list` shows the groups")
            self._journal(conn, "", "remove group", actor=name)

    def group(self, name: str) -> Group | None:
        found = [group for group in self.groups(name) if group.name == name]
        return found[0] if found else None

    def groups(self, name: str | None = None) -> list[Group]:
        """Every group (or the one named) with its members, by name."""
        with self._connect() as conn:
            return _groups(conn, name)

    def groups_of(self, user: str) -> frozenset[str]:
        """The groups ``user`` is a member of."""
        with self._connect() as conn:
            rows = conn.execute(
                select(schema.access_groups.c.name)
                .join(schema.group_members,
                      schema.group_members.c.group_id == schema.access_groups.c.id)
                .join(schema.users, schema.group_members.c.user_id == schema.users.c.id)
                .where(schema.users.c.name == user)
            ).all()  # fmt: skip
        return frozenset(row.name for row in rows)

    def set_member(
        self, group: str, user: str, member: bool, audit: AuditNote | None = None
    ) -> bool:
        """Add ``user`` to ``group`` (or take them out); whether anything changed."""
        with self._change("change the group's members", audit) as conn:
            return AccessWriter(self, conn).set_member(group, user, member)

    def grant_group(
        self, project: str, group: str, role: str, audit: AuditNote | None = None
    ) -> None:
        """Give ``group`` ``role`` on ``project`` (created if absent), replacing its role;
        taking the owner role from the last owner is refused."""
        with self._change("grant the role", audit) as conn:
            txn = AccessWriter(self, conn)
            txn.ensure_project(project, project)
            if role != OWNER:
                project_id = self._id_of(conn, schema.projects, project, "project")
                self._keep_an_owner(conn, project, project_id, GROUP_PREFIX + group)
            txn.set_group_role(project, group, role)

    @staticmethod
    def _id_of(conn: Connection, table: Any, name: str, kind: str) -> int:
        found = conn.execute(select(table.c.id).where(table.c.name == name)).scalar()
        if found is None:
            hint = {"user": "; `pubkit user list` shows who exists",
                    "group": "; `pubkit group list` shows the groups"}.get(kind, "")  # fmt: skip
            raise NotFoundError(f"no {kind} {name!r}{hint}")
        return int(found)

    def _grant(
        self, conn: Connection, project: str, project_id: int, user: str, user_id: int, role: str
    ) -> None:
        conn.execute(
            delete(schema.roles).where(
                and_(schema.roles.c.project_id == project_id, schema.roles.c.user_id == user_id)
            )
        )
        conn.execute(insert(schema.roles).values(project_id=project_id, user_id=user_id, role=role))
        self._journal(conn, project, f"grant {role}", actor=user)

    # -- tokens ----------------------------------------------------------------------------

    def add_token(
        self, token_id: str, stored_hash: str, user: User, permission: str,
        projects: tuple[str, ...] | None, description: str | None, expires: datetime | None,
        audit: AuditNote | None = None,
    ) -> Token:  # fmt: skip
        token = Token(token_id, user.name, permission, projects, description, utc_now(), expires,
                      None, None)  # fmt: skip
        with self._change("create the token", audit) as conn:
            conn.execute(insert(schema.tokens).values(_token_values(token, user.id, stored_hash)))
            self._journal(conn, "", "add token", actor=user.name)
        found = self.token(token_id)
        assert found is not None
        return found[0]

    def token(self, token_id: str) -> tuple[Token, str, User] | None:
        """A token, its stored hash and its user, in one query."""
        with self._connect() as conn:
            row = conn.execute(
                self._token_rows().add_columns(
                    schema.users.c.password_hash, schema.users.c.is_admin,
                    schema.users.c.created.label("user_created"), schema.users.c.disabled,
                ).where(schema.tokens.c.id == token_id)
            ).first()  # fmt: skip
        if row is None:
            return None
        user = User(row.user_id, row.user_name, row.password_hash, bool(row.is_admin),
                    _aware(row.user_created), bool(row.disabled))  # fmt: skip
        return _token(row), row.secret_hash, user

    def tokens(self, user: str | None = None) -> list[Token]:
        query = self._token_rows().order_by(schema.tokens.c.created)
        if user is not None:
            query = query.where(schema.users.c.name == user)
        with self._connect() as conn:
            return [_token(row) for row in conn.execute(query).all()]

    def revoke_token(self, token_id: str, audit: AuditNote | None = None) -> Token:
        with self._change("revoke the token", audit) as conn:
            result = conn.execute(
                update(schema.tokens)
                .where(and_(schema.tokens.c.id == token_id, schema.tokens.c.revoked.is_(None)))
                .values(revoked=utc_now())
            )
            if result.rowcount:
                self._journal(conn, "", "revoke token", actor=token_id)
        found = self.token(token_id)
        if found is None:
            raise NotFoundError(f"no token {token_id!r}; `pubkit token list` shows them")
        return found[0]

    def touch_token(self, token_id: str) -> None:
        """Record a use; not journaled: it changes nothing a page or a permission shows."""
        with self._write() as conn:
            conn.execute(update(schema.tokens).where(schema.tokens.c.id == token_id)
                         .values(last_used=utc_now()))  # fmt: skip

    # -- access data: export and import -----------------------------------------------------

    def access(self) -> Access:
        """Every user, group, project, role and token, read in one transaction (a consistent
        backup: no role, membership or token of a user or group the same read does not show)."""
        with self._connect() as conn:
            if not self.is_sqlite:
                # Read committed would give each query its own snapshot.
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                return self._access(conn)

    @contextlib.contextmanager
    def transaction(
        self, restoring: int | None = None, restored: Any = None
    ) -> Iterator[AccessWriter]:
        """Writes of users, groups, projects, roles and tokens that commit together or not at
        all. ``restoring``: the access snapshot they restore (see :meth:`_change`).

        Database errors pass through untranslated (the caller knows what its statements hold).
        """
        with self._change("change the users and roles", restoring=restoring,
                          restored=restored) as conn:  # fmt: skip
            yield AccessWriter(self, conn)
