"""The web interface: projects' summaries and requirements (search, "depends on" and "used
by"), and sign-in sessions.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ALTER TABLE (see 0003: batch mode would cascade a copy's drop).
    op.add_column("projects", sa.Column("summary", sa.Text, nullable=True))
    op.create_table(
        "project_requires",
        sa.Column("project_id", sa.Integer,
                  sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("requires", sa.String(255), nullable=False),
        sa.UniqueConstraint("project_id", "requires", name="uq_project_requires"),
    )  # fmt: skip
    op.create_index("ix_project_requires_requires", "project_requires", ["requires"])
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer,
                  sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
    )  # fmt: skip
    op.create_index("ix_web_sessions_user", "web_sessions", ["user_id"])


def downgrade() -> None:
    op.drop_table("web_sessions")
    op.drop_table("project_requires")
    op.drop_column("projects", "summary")
