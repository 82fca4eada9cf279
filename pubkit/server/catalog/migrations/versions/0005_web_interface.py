"""The web interface: projects' summaries and requirements (search, "depends on" and "used
by"), and sign-in sessions.

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ALTER TABLE (see 0003: batch mode would cascade a copy's drop).
    op.add_column("projects", sa.Column("summary", sa.Text, nullable=True))
    op.add_column(
        "users", sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false())
    )
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
    search_index(op.get_bind())


# SQLite: an FTS5 trigram index of the names and summaries, which substring search uses
# (pubkit.server.catalog.web), kept by triggers. PostgreSQL: pg_trgm's GIN indexes, which
# its ILIKE uses. Either is skipped where the database lacks it (FTS5 compiled out,
# the extension not installable): search then scans, still correct.
SQLITE_SEARCH = [
    "CREATE VIRTUAL TABLE project_search USING fts5(name, summary, content='projects',"
    " content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER project_search_insert AFTER INSERT ON projects BEGIN"
    " INSERT INTO project_search(rowid, name, summary) VALUES (new.id, new.name, new.summary);"
    " END",
    "CREATE TRIGGER project_search_delete AFTER DELETE ON projects BEGIN"
    " INSERT INTO project_search(project_search, rowid, name, summary)"
    " VALUES ('delete', old.id, old.name, old.summary); END",
    "CREATE TRIGGER project_search_update AFTER UPDATE OF name, summary ON projects BEGIN"
    " INSERT INTO project_search(project_search, rowid, name, summary)"
    " VALUES ('delete', old.id, old.name, old.summary);"
    " INSERT INTO project_search(rowid, name, summary) VALUES (new.id, new.name, new.summary);"
    " END",
    "INSERT INTO project_search(project_search) VALUES ('rebuild')",
]
POSTGRES_SEARCH = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_projects_name_trgm ON projects USING gin (name gin_trgm_ops)",
    "CREATE INDEX ix_projects_summary_trgm ON projects USING gin (summary gin_trgm_ops)",
]


def search_index(bind: sa.engine.Connection) -> None:
    if bind.dialect.name == "sqlite":
        # Asked first, not tried: a failed FTS5 statement spoils the whole transaction.
        columns = {column["name"] for column in sa.inspect(bind).get_columns("projects")}
        options = {row[0] for row in bind.exec_driver_sql("PRAGMA compile_options")}
        version = tuple(int(part) for part in str(bind.exec_driver_sql(
            "SELECT sqlite_version()").scalar()).split(".")[:2])  # fmt: skip
        if {"id", "name", "summary"} <= columns and "ENABLE_FTS5" in options and (
                version >= (3, 34)):  # the trigram tokenizer's  # fmt: skip
            for statement in SQLITE_SEARCH:
                bind.execute(sa.text(statement))
        return
    try:
        with bind.begin_nested():
            for statement in POSTGRES_SEARCH:
                bind.execute(sa.text(statement))
    except sa.exc.DBAPIError:
        pass  # pg_trgm not installable here: search scans


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name in ("insert", "delete", "update"):
            bind.execute(sa.text(f"DROP TRIGGER IF EXISTS project_search_{name}"))
        bind.execute(sa.text("DROP TABLE IF EXISTS project_search"))
    op.drop_table("web_sessions")
    op.drop_table("project_requires")
    op.drop_column("projects", "summary")
    op.drop_column("users", "disabled")
