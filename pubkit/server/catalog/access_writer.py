"""The writer of one access transaction (:meth:`Catalog.transaction`): the writes of users,
groups, projects, roles, tokens and upstream rules that commit together (an import, a restore)
or that one access change makes in several steps."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, delete, insert, select, update

from pubkit.core.accounts import GROUP_PREFIX, Token
from pubkit.server.catalog import schema
from pubkit.server.catalog.records import Access, UpstreamRule, _token_values
from pubkit.server.layout import utc_now

if TYPE_CHECKING:
    from pubkit.server.catalog.access import AccessCatalog


class AccessWriter:
    """The writes of one :meth:`Catalog.transaction`. Each is journaled as the catalog's own
    writers are: the serial moves (and every worker's credential and page caches learn of the
    change) when, and only when, something is written."""

    def __init__(self, catalog: AccessCatalog, conn: Connection) -> None:
        self._catalog = catalog
        self._conn = conn

    def access(self) -> Access:
        """The access data as this transaction sees it."""
        return self._catalog._access(self._conn)

    def add_user(
        self, name: str, password_hash: str, is_admin: bool, created: datetime | None = None
    ) -> None:
        self._catalog._add_user(self._conn, name, password_hash, is_admin, created)

    def set_user(
        self, name: str, password_hash: str, is_admin: bool, disabled: bool = False
    ) -> None:
        self._conn.execute(
            update(schema.users)
            .where(schema.users.c.name == name)
            .values(password_hash=password_hash, is_admin=is_admin, disabled=disabled)
        )
        self._catalog._journal(self._conn, "", "import user", actor=name)

    def ensure_project(self, name: str, display_name: str, created: datetime | None = None) -> bool:
        """Create the project unless it exists, with no owner; whether it was created."""
        _, new = self._catalog._ensure_project(self._conn, name, display_name, created)
        if new:
            self._catalog._journal(self._conn, name, "create project")
        return new

    def set_role(self, project: str, user: str, role: str) -> None:
        """Grant ``role`` on ``project`` to ``user``, replacing any role they had there."""
        project_id = self._id(schema.projects, project, "project")
        user_id = self._id(schema.users, user, "user")
        self._catalog._grant(self._conn, project, project_id, user, user_id, role)

    def set_private(self, project: str, private: bool) -> bool:
        """Make ``project`` (which must exist) private or public; whether anything changed."""
        self._id(schema.projects, project, "project")
        result = self._conn.execute(
            update(schema.projects)
            .where(and_(schema.projects.c.name == project,
                        schema.projects.c.private.is_not(private)))
            .values(private=private)
        )  # fmt: skip
        if result.rowcount:
            self._catalog._journal(self._conn, project, "private" if private else "public")
        return bool(result.rowcount)

    def add_group(self, name: str, created: datetime | None = None) -> None:
        self._conn.execute(
            insert(schema.access_groups).values(name=name, created=created or utc_now())
        )
        self._catalog._journal(self._conn, "", "add group", actor=name)

    def set_member(self, group: str, user: str, member: bool = True) -> bool:
        """Add ``user`` to ``group`` (or take them out); whether anything changed."""
        group_id = self._id(schema.access_groups, group, "group")
        user_id = self._id(schema.users, user, "user")
        pair = and_(schema.group_members.c.group_id == group_id,
                    schema.group_members.c.user_id == user_id)  # fmt: skip
        present = self._conn.execute(select(schema.group_members.c.user_id).where(pair)).first()
        if (present is not None) == member:
            return False
        if member:
            self._conn.execute(
                insert(schema.group_members).values(group_id=group_id, user_id=user_id)
            )
        else:
            self._conn.execute(delete(schema.group_members).where(pair))
        self._catalog._journal(self._conn, "", "add member" if member else "remove member",
                               actor=user)  # fmt: skip
        return True

    def set_group_role(self, project: str, group: str, role: str) -> None:
        """Grant ``role`` on ``project`` to ``group``, replacing any role it had there."""
        project_id = self._id(schema.projects, project, "project")
        group_id = self._id(schema.access_groups, group, "group")
        self._conn.execute(delete(schema.group_roles).where(and_(
            schema.group_roles.c.project_id == project_id,
            schema.group_roles.c.group_id == group_id)))  # fmt: skip
        self._conn.execute(
            insert(schema.group_roles).values(project_id=project_id, group_id=group_id, role=role)
        )
        self._catalog._journal(self._conn, project, f"grant {role}", actor=GROUP_PREFIX + group)

    def add_token(self, token: Token, stored_hash: str) -> None:
        user_id = self._id(schema.users, token.user, "user")
        self._conn.execute(insert(schema.tokens).values(_token_values(token, user_id, stored_hash)))
        self._catalog._journal(self._conn, "", "add token", actor=token.user)

    def set_token(self, token: Token, stored_hash: str) -> None:
        """Make the token with ``token.id`` equal to ``token`` (every field) and its hash."""
        user_id = self._id(schema.users, token.user, "user")
        self._conn.execute(
            update(schema.tokens)
            .where(schema.tokens.c.id == token.id)
            .values(_token_values(token, user_id, stored_hash))
        )
        self._catalog._journal(self._conn, "", "import token", actor=token.user)

    def upstream_rule(self, name: str) -> UpstreamRule:
        """The rule of ``name`` (an empty one when it has none)."""
        table = schema.upstream_rules
        row = self._conn.execute(select(table).where(table.c.name == name)).first()
        if row is None:
            return UpstreamRule(name, False, False, None)
        return UpstreamRule(name, bool(row.reserved), bool(row.tracked), row.min_age)

    def set_upstream_rule(self, rule: UpstreamRule) -> bool:
        """Make the rule of ``rule.name`` this one (an empty rule removes it); whether
        anything changed."""
        table = schema.upstream_rules
        old = self.upstream_rule(rule.name)
        if old == rule:
            return False
        where = table.c.name == rule.name
        values = {"reserved": rule.reserved, "tracked": rule.tracked, "min_age": rule.min_age,
                  "changed": utc_now()}  # fmt: skip
        if rule.empty:
            self._conn.execute(delete(table).where(where))
        elif old.empty:
            self._conn.execute(insert(table).values(name=rule.name, **values))
        else:
            self._conn.execute(update(table).where(where).values(**values))
        self._catalog._journal(self._conn, rule.name, "upstream rule")
        return True

    def _id(self, table: Any, name: str, kind: str) -> int:
        return self._catalog._id_of(self._conn, table, name, kind)
