"""The catalog (SQLAlchemy Core): SQLite by default, PostgreSQL for replicas."""

from pubkit.core.accounts import MAINTAINER, OWNER, READER, ROLES, UPLOAD_ROLES
from pubkit.server.catalog.catalog import Catalog
from pubkit.server.catalog.opening import open_catalog
from pubkit.server.catalog.records import ProjectAccess, ProjectSummary, UpstreamRule, User

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
