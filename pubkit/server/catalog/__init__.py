"""The catalog (SQLAlchemy Core): SQLite by default, PostgreSQL for replicas."""

from pubkit.core.accounts import MAINTAINER, OWNER, READER, ROLES, UPLOAD_ROLES
from pubkit.server.catalog.catalog import (
    Catalog,
    ProjectAccess,
    ProjectSummary,
    UpstreamRule,
    User,
    open_catalog,
)

__all__ = [
    "MAINTAINER",
    "OWNER",
    "READER",
    "ROLES",
    "UPLOAD_ROLES",
    "Catalog",
    "ProjectAccess",
    "ProjectSummary",
    "UpstreamRule",
    "User",
    "open_catalog",
]
