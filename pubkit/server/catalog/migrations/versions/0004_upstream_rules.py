"""The upstream guard's rules: reserved and tracked names, per-name quarantine.

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
    op.create_table(
        "upstream_rules",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("reserved", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("tracked", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("min_age", sa.Float, nullable=True),
        sa.Column("changed", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("upstream_rules")
