"""Groups (members and roles on projects) and private projects.

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ALTER TABLE: SQLite's batch mode would copy the table, and dropping the old
    # copy would cascade to every file and role of the project (foreign keys are on).
    op.add_column(
        "projects", sa.Column("private", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.create_table(
        "access_groups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Integer,
                  sa.ForeignKey("access_groups.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.Integer,
                  sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.UniqueConstraint("group_id", "user_id", name="uq_group_members"),
    )  # fmt: skip
    op.create_index("ix_group_members_user", "group_members", ["user_id"])
    op.create_table(
        "group_roles",
        sa.Column("project_id", sa.Integer,
                  sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("group_id", sa.Integer,
                  sa.ForeignKey("access_groups.id", ondelete="CASCADE"), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.UniqueConstraint("project_id", "group_id", name="uq_group_roles_project_group"),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("group_roles")
    op.drop_table("group_members")
    op.drop_table("access_groups")
    op.drop_column("projects", "private")
