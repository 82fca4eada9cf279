"""Alembic's environment for the catalog: always online, on the connection pubkit hands over
(inside its transaction and, on PostgreSQL, its advisory lock)."""

from __future__ import annotations

from alembic import context

from pubkit.server.catalog.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
