"""The catalog (SQLAlchemy Core): SQLite by default, PostgreSQL for replicas."""

from pubkit.server.catalog.catalog import (
    MAINTAINER,
    OWNER,
    UPLOAD_ROLES,
    Catalog,
    ProjectSummary,
    User,
    open_catalog,
)

__all__ = [
    "MAINTAINER",
    "OWNER",
    "UPLOAD_ROLES",
    "Catalog",
    "ProjectSummary",
    "User",
    "open_catalog",
]
