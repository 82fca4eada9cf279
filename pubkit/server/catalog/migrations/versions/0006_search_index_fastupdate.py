"""PostgreSQL's search indexes without a pending list: every project in its index at once.

A GIN index's "fast update" keeps new entries in an unsorted pending list until a vacuum
merges them. Every search must read the whole list, and the planner, counting its pages,
scans all the summaries instead (at 20,000 projects uploaded since the last vacuum, a search
that matches nothing took 14 ms instead of 1.3 ms). Projects are written once per upload,
so paying for the index entry there is the better trade; the list already there is merged
now.

Revision ID: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SEARCH_INDEXES = ("ix_projects_name_trgm", "ix_projects_summary_trgm")


def _present(bind: sa.engine.Connection) -> list[str]:
    if bind.dialect.name != "postgresql":
        return []
    found = set(bind.execute(sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'projects'"
                                 " AND schemaname = current_schema()")).scalars())  # fmt: skip
    return [name for name in SEARCH_INDEXES if name in found]


def upgrade() -> None:
    bind = op.get_bind()
    for name in _present(bind):  # absent where pg_trgm could not be installed (0005)
        bind.execute(sa.text(f"ALTER INDEX {name} SET (fastupdate = off)"))
        bind.execute(sa.text(f"SELECT gin_clean_pending_list('{name}'::regclass)"))


def downgrade() -> None:
    bind = op.get_bind()
    for name in _present(bind):
        bind.execute(sa.text(f"ALTER INDEX {name} RESET (fastupdate)"))
