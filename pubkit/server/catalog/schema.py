"""The catalog's tables (SQLAlchemy Core), identical on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# The alembic revision these tables match (migrations/versions/); a catalog at an older one
# is upgraded when it is opened.
SCHEMA_REVISION = "0006"

metadata = MetaData()

catalog_info = Table(
    "catalog_info",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),  # PEP 503 normalized
    Column("display_name", String(255), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("last_serial", BigInteger, nullable=False, default=0),
    # Private projects are seen only by those who hold a role on them (and admins).
    Column("private", Boolean, nullable=False, default=False),
    # The Summary of its newest release's metadata: what search looks at beside the name.
    Column("summary", Text, nullable=True),
)

# The normalized names its newest release's Requires-Dist names: the web interface's "depends
# on" and "used by" between this index's projects.
project_requires = Table(
    "project_requires",
    metadata,
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("requires", String(255), nullable=False),
    UniqueConstraint("project_id", "requires", name="uq_project_requires"),
    Index("ix_project_requires_requires", "requires"),
)

# The web interface's sign-ins: ``id`` is the SHA-256 of the cookie's secret (a leaked
# catalog holds no usable session); a row past ``expires`` signs nobody in.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("expires", DateTime(timezone=True), nullable=False),
    Index("ix_web_sessions_user", "user_id"),
)

files = Table(
    "files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("filename", String(255), nullable=False, unique=True),
    # One row per distribution however its name is spelled (see DistributionFilename.canonical).
    Column("canonical_filename", String(255), nullable=False, unique=True),
    Column("version", String(255), nullable=False),
    Column("packagetype", String(32), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("md5", String(32), nullable=False),
    Column("blake2_256", String(64), nullable=False),
    Column("requires_python", Text, nullable=True),
    Column("metadata_sha256", String(64), nullable=True),
    Column("upload_time", DateTime(timezone=True), nullable=False),
    Column("uploader", String(255), nullable=True),
    Column("yanked", Boolean, nullable=False, default=False),
    Column("yanked_reason", Text, nullable=True),
    Index("ix_files_project", "project_id"),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created", DateTime(timezone=True), nullable=False),
    # A disabled user signs in nowhere (password, tokens, web sessions) until enabled again.
    Column("disabled", Boolean, nullable=False, default=False),
)

roles = Table(
    "roles",
    metadata,
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(32), nullable=False),
    UniqueConstraint("project_id", "user_id", name="uq_roles_project_user"),
)

# Every change gets a serial; the largest one is the catalog's serial, which every replica's
# page cache compares against.
journal = Table(
    "journal",
    metadata,
    Column("serial", Integer, primary_key=True, autoincrement=True),
    Column("project", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("filename", String(255), nullable=True),
    Column("actor", String(255), nullable=True),
    Column("time", DateTime(timezone=True), nullable=False),
)

# API tokens: the secret is shown once; only its keyed hash is kept. ``projects`` is a JSON
# list of normalized names the token is limited to (NULL: every project of its user).
tokens = Table(
    "tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("permission", String(16), nullable=False),  # read | upload
    Column("projects", Text, nullable=True),
    Column("description", Text, nullable=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("expires", DateTime(timezone=True), nullable=True),
    Column("last_used", DateTime(timezone=True), nullable=True),
    Column("revoked", DateTime(timezone=True), nullable=True),
    Index("ix_tokens_user", "user_id"),
)

# Who did what, when, from where: uploads, yanks, users, roles, tokens.
audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("actor", String(255), nullable=True),
    Column("address", String(64), nullable=True),
    Column("action", String(64), nullable=False),
    Column("target", Text, nullable=False),
    Column("detail", Text, nullable=True),  # JSON
    Index("ix_audit_time", "time"),
)

# Groups of users; a group holds roles on projects as a user does.
access_groups = Table(
    "access_groups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created", DateTime(timezone=True), nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", Integer, ForeignKey("access_groups.id", ondelete="CASCADE"),
           nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    UniqueConstraint("group_id", "user_id", name="uq_group_members"),
    Index("ix_group_members_user", "user_id"),
)  # fmt: skip

group_roles = Table(
    "group_roles",
    metadata,
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("group_id", Integer, ForeignKey("access_groups.id", ondelete="CASCADE"),
           nullable=False),
    Column("role", String(32), nullable=False),
    UniqueConstraint("project_id", "group_id", name="uq_group_roles_project_group"),
)  # fmt: skip

# What the upstream guard knows about a name (pubkit/server/upstream/): reserved (served only
# from this index, whether or not it has files), tracked (an explicit opt-in to merge the
# upstream's files into a local project's page), and its own quarantine (seconds; NULL: the
# server's --upstream-min-age).
upstream_rules = Table(
    "upstream_rules",
    metadata,
    Column("name", String(255), primary_key=True),  # PEP 503 normalized
    Column("reserved", Boolean, nullable=False, default=False),
    Column("tracked", Boolean, nullable=False, default=False),
    Column("min_age", Float, nullable=True),
    Column("changed", DateTime(timezone=True), nullable=False),
)
