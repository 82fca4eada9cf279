"""Alembic migrations of the catalog schema; run by :meth:`Catalog.create_schema`."""
