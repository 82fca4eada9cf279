"""The catalog's queries for the web interface (and the admin API's search): project search,
"depends on" and "used by", sign-in sessions and the filtered audit log.

Visibility is the caller's: every listing takes the private projects the reader may read
(:meth:`pubkit.server.auth.permissions.Permissions.readable_private`) and shows no other.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import secrets
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from packaging.version import InvalidVersion, Version
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Select,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    true,
    update,
)

from pubkit.core.accounts import AuditEntry
from pubkit.server.catalog import schema
from pubkit.server.catalog.catalog import Catalog
from pubkit.server.catalog.records import User, _aware, _user
from pubkit.server.layout import utc_now

MAX_QUERY = 200
_T = TypeVar("_T")


@dataclass(frozen=True)
class Listed:
    """A project as a listing shows it."""

    name: str
    display_name: str
    summary: str | None
    private: bool


@dataclass(frozen=True)
class Found:
    total: int
    projects: list[Listed]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# What a reader who may read every private project (an administrator) passes.
EVERY_PROJECT = None


def _visible(readable_private: frozenset[str] | None) -> ColumnElement[bool]:
    """Public projects, and the private ones in ``readable_private`` (None: all of them)."""
    projects = schema.projects.c
    if readable_private is None:
        return true()
    if not readable_private:
        return projects.private.is_(False)
    return or_(projects.private.is_(False), projects.name.in_(sorted(readable_private)))


_FTS: weakref.WeakKeyDictionary[Catalog, bool] = weakref.WeakKeyDictionary()


def _has_fts(catalog: Catalog, conn: Connection) -> bool:
    """Whether this SQLite catalog has the trigram index (migration 0005 made it if it could)."""
    found = _FTS.get(catalog)
    if found is None:
        found = _FTS[catalog] = catalog.is_sqlite and conn.execute(text(
            "SELECT count(*) FROM sqlite_master WHERE name = 'project_search'")).scalar() == 1
    return found


def _phrase(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def search_projects(
    catalog: Catalog, query: str, readable_private: frozenset[str] | None, limit: int = 50,
    offset: int = 0,
) -> Found:  # fmt: skip
    """Projects with files whose name or summary contains ``query`` (case-insensitive; empty:
    every project), those whose name matches best first, then by name; with their total.
    Only public projects and ``readable_private`` ones are seen, in the list and the count.

    SQLite looks the words up in its trigram index when they are 3 characters or more
    (FTS5; shorter ones, or without FTS5, scan with LIKE, which ignores ASCII case by
    itself); PostgreSQL's LIKE (names are normalized, so lowercase) and ILIKE use pg_trgm's
    indexes where the extension is installed (the summary in its own collation: under
    another one, such as "C", the index does not apply and every summary is scanned).

    One statement: the matches' ids, ranks and names are gathered once, counted, and only
    the page's rows are sorted out of them and read whole. Statements are built once per
    shape (:func:`_search_statement`); the values are bound."""
    words = query.strip()[:MAX_QUERY]
    normalized = re.sub(r"[-_.]+", "-", words.lower())
    values: dict[str, Any] = {"limit": limit, "offset": offset}
    if readable_private:
        values["readable"] = sorted(readable_private)
    visible = ("all" if readable_private is EVERY_PROJECT
               else "some" if readable_private else "public")  # fmt: skip
    with catalog._connect() as conn:
        fileless = _fileless(catalog, conn)
        if fileless:
            values["fileless"] = sorted(fileless)
        if not words:
            match = ""
        elif len(words) >= 3 and len(normalized) >= 3 and _has_fts(catalog, conn):
            match = "fts"
            # One phrase over both columns when the name's spelling of it is the same: the
            # index read once, not once per column.
            values["match"] = (_phrase(words) if normalized == words.lower() else
                               f"name : {_phrase(normalized)} OR summary : {_phrase(words)}")
        else:
            match = "like" if catalog.is_sqlite else "ilike"
            values["name_pattern"] = f"%{_escape_like(normalized)}%"
            values["summary_pattern"] = f"%{_escape_like(words)}%"
        if words:
            values["normalized"], values["prefix"] = normalized, f"{_escape_like(normalized)}%"
        page, total = _search_statement(match, visible, _fileless_kind(fileless))
        rows = conn.execute(page, values).all()
        if words and (rows or not offset):
            count = rows[0].total if rows else 0
        else:  # counted apart: every project (an index counts them), or past the last match
            count = conn.execute(total, values).scalar()
    return Found(int(count or 0), [Listed(r.name, r.display_name, r.summary, bool(r.private))
                                   for r in rows])  # fmt: skip


@functools.lru_cache(maxsize=64)
def _search_statement(match: str, visible: str, fileless: str) -> tuple[Select[Any], Select[Any]]:
    """The page's statement (each row with the total) and the count's, for a search of this
    shape: ``match`` "" (every project), "fts", "like" or "ilike"; ``visible``
    "all", "public" or "some" (public, and the bound ``readable`` names); ``fileless``
    "none", "some" (the bound ``fileless`` ids) or "exists" (asked of each project)."""
    projects, files = schema.projects.c, schema.files.c
    conditions: list[ColumnElement[bool]] = []
    if visible == "public":
        conditions.append(projects.private.is_(False))
    elif visible == "some":
        conditions.append(or_(projects.private.is_(False),
                              projects.name.in_(bindparam("readable", expanding=True))))
    if fileless == "some":
        conditions.append(projects.id.not_in(bindparam("fileless", expanding=True)))
    elif fileless == "exists":
        conditions.append(select(files.id).where(files.project_id == projects.id).exists())
    limit: BindParameter[int] = bindparam("limit")
    offset: BindParameter[int] = bindparam("offset")
    columns = (projects.name, projects.display_name, projects.summary, projects.private)
    if not match:  # the name index pages them; a count counts them
        every = select(*columns).where(*conditions)
        count = select(func.count()).select_from(schema.projects).where(*conditions)
        return every.order_by(projects.name).limit(limit).offset(offset), count
    if match == "fts":
        conditions.append(projects.id.in_(
            select(literal_column("rowid")).select_from(text("project_search"))
            .where(text("project_search MATCH :match"))))  # fmt: skip
    else:
        summary: ColumnElement[str] = projects.summary
        pattern: BindParameter[str] = bindparam("summary_pattern")
        conditions.append(or_(projects.name.like(bindparam("name_pattern"), escape="\\"),
                              summary.like(pattern, escape="\\") if match == "like"
                              else summary.ilike(pattern, escape="\\")))  # fmt: skip
    rank = case((projects.name == bindparam("normalized"), 0),
                (projects.name.like(bindparam("prefix"), escape="\\"), 1), else_=2)
    matches = select(projects.id, rank.label("rank"), projects.name).where(
        *conditions).cte("matches")  # fmt: skip
    top = (select(matches.c.id, matches.c.rank, matches.c.name)
           .order_by(matches.c.rank, matches.c.name).limit(limit).offset(offset)
           .subquery("top"))  # fmt: skip
    count = select(func.count()).select_from(matches)
    listed = schema.projects.alias("listed")
    page = (select(count.scalar_subquery().label("total"), listed.c.name,
                   listed.c.display_name, listed.c.summary, listed.c.private)
            .select_from(top.join(listed, listed.c.id == top.c.id))
            .order_by(top.c.rank, top.c.name))  # fmt: skip
    return page, count


_FILELESS: weakref.WeakKeyDictionary[Catalog, tuple[int, frozenset[int]]] = (
    weakref.WeakKeyDictionary())
MAX_FILELESS = 500


def _fileless(catalog: Catalog, conn: Connection) -> frozenset[int]:
    """The projects without any file (few: claimed by an upload that failed, every release
    deleted, or named by an access import before a rebuild), read once per catalog serial;
    more than ``MAX_FILELESS`` of them: every project is asked instead."""
    serial = catalog.serial()
    cached = _FILELESS.get(catalog)
    if cached is None or cached[0] != serial:
        projects, files = schema.projects.c, schema.files.c
        fileless = frozenset(conn.execute(
            select(projects.id).where(~select(files.id).where(files.project_id == projects.id)
                                      .exists()).limit(MAX_FILELESS + 1)).scalars())  # fmt: skip
        # Read after the serial: a change meanwhile is read again at the next serial.
        _FILELESS[catalog] = cached = (serial, fileless)
    return cached[1]


def _fileless_kind(fileless: frozenset[int]) -> str:
    return "none" if not fileless else "some" if len(fileless) <= MAX_FILELESS else "exists"


def project_summary(catalog: Catalog, name: str) -> str | None:
    with catalog._connect() as conn:
        return _summary_of(conn, name)


def _summary_of(conn: Connection, name: str) -> str | None:
    value = conn.execute(select(schema.projects.c.summary)
                         .where(schema.projects.c.name == name)).scalar()  # fmt: skip
    return str(value) if value is not None else None


def depends_on(
    catalog: Catalog, name: str, readable_private: frozenset[str] | None
) -> list[str]:
    """The projects of this index that ``name``'s newest release requires (visible ones)."""
    with catalog._connect() as conn:
        return _depends_on(conn, name, readable_private)


def _depends_on(conn: Connection, name: str, readable_private: frozenset[str] | None) -> list[str]:
    projects, requires = schema.projects.c, schema.project_requires.c
    source = schema.projects.alias("source")
    query = (select(projects.name)
             .join(schema.project_requires, requires.requires == projects.name)
             .join(source, source.c.id == requires.project_id)
             .where(source.c.name == name, _visible(readable_private))
             .order_by(projects.name))  # fmt: skip
    return [row.name for row in conn.execute(query)]


def used_by(catalog: Catalog, name: str, readable_private: frozenset[str] | None) -> list[str]:
    """The projects of this index whose newest release requires ``name`` (visible ones)."""
    with catalog._connect() as conn:
        return _used_by(conn, name, readable_private)


def _used_by(conn: Connection, name: str, readable_private: frozenset[str] | None) -> list[str]:
    projects, requires = schema.projects.c, schema.project_requires.c
    query = (select(projects.name)
             .join(schema.project_requires, requires.project_id == projects.id)
             .where(requires.requires == name, _visible(readable_private))
             .order_by(projects.name))  # fmt: skip
    return [row.name for row in conn.execute(query)]


@dataclass(frozen=True)
class Links:
    """What a project page shows of a project beside its files."""

    summary: str | None
    depends_on: list[str]
    used_by: list[str]


def project_links(
    catalog: Catalog, name: str, readable_private: frozenset[str] | None
) -> Links:
    """:func:`project_summary`, :func:`depends_on` and :func:`used_by` on one connection."""
    with catalog._connect() as conn:
        return Links(_summary_of(conn, name), _depends_on(conn, name, readable_private),
                     _used_by(conn, name, readable_private))


@dataclass(frozen=True)
class Description:
    """What a release's core metadata says about its project: its summary, and the projects
    its Requires-Dist names (normalized)."""

    project: str
    version: str
    summary: str | None
    requires: tuple[str, ...]


def _is_newest(version: str, others: Iterable[str]) -> bool:
    """Whether a release of ``version`` describes its project: no release is newer (a later
    upload of the newest version describes it again)."""
    try:
        mine = Version(version)
        return not any(Version(str(other)) > mine for other in others)
    except InvalidVersion:
        return False


def _described(summary: str | None, requires: Iterable[str]) -> tuple[str | None, list[str]]:
    return summary[:2000] if summary else None, sorted({name[:255] for name in requires})


def _write_description(
    conn: Connection, project_id: int, summary: str | None, names: list[str],
    serial: int | None = None,
) -> bool:  # fmt: skip
    """Store a project's description; with ``serial``, only while its last serial is that
    (a change committed meanwhile is newer than what the caller read)."""
    projects = schema.projects.c
    condition = projects.id == project_id
    if serial is not None:
        condition = condition & (projects.last_serial == serial)
    if conn.execute(update(schema.projects).where(condition)
                    .values(summary=summary)).rowcount != 1:  # fmt: skip
        return False
    conn.execute(delete(schema.project_requires)
                 .where(schema.project_requires.c.project_id == project_id))  # fmt: skip
    if names:
        conn.execute(insert(schema.project_requires),
                     [{"project_id": project_id, "requires": name} for name in names])  # fmt: skip
    return True


def describe_project(
    conn: Connection, project_id: int, version: str, summary: str | None,
    requires: Iterable[str],
) -> None:  # fmt: skip
    """Record the summary and requirements of ``version`` if it is the project's newest
    (called in the upload's transaction, after its file row is inserted)."""
    versions = conn.execute(select(schema.files.c.version)
                            .where(schema.files.c.project_id == project_id)).scalars()  # fmt: skip
    if _is_newest(version, versions):
        _write_description(conn, project_id, *_described(summary, requires))


def describe_projects(catalog: Catalog, descriptions: Iterable[Description]) -> int:
    """Record each description as an upload of its release would have (:func:`describe_project`:
    only a project's newest release describes it), in one transaction, writing only what
    differs; how many projects changed. A project changed by a commit while this runs keeps
    that commit's description. For ``index rebuild`` and ``verify --repair``, which read the
    descriptions out of storage."""
    wanted = {description.project: description for description in descriptions}
    if not wanted:
        return 0
    projects, files, requires = schema.projects.c, schema.files.c, schema.project_requires.c
    changed = 0
    with catalog._guard("describe the projects"), catalog._write() as conn:
        rows = {row.name: row for chunk in _chunks(sorted(wanted)) for row in conn.execute(
            select(projects.id, projects.name, projects.summary, projects.last_serial)
            .where(projects.name.in_(chunk)))}  # fmt: skip
        ids = {row.id: name for name, row in rows.items()}
        versions: dict[str, list[str]] = {name: [] for name in rows}
        current: dict[str, list[str]] = {name: [] for name in rows}
        for chunk in _chunks(sorted(ids)):
            for found in conn.execute(select(files.project_id, files.version)
                                      .where(files.project_id.in_(chunk))):  # fmt: skip
                versions[ids[found.project_id]].append(found.version)
            for found in conn.execute(select(requires.project_id, requires.requires)
                                      .where(requires.project_id.in_(chunk))):  # fmt: skip
                current[ids[found.project_id]].append(found.requires)
        for name, row in sorted(rows.items()):
            description = wanted[name]
            if not _is_newest(description.version, versions[name]):
                continue
            summary, names = _described(description.summary, description.requires)
            if (summary, names) == (row.summary, sorted(current[name])):
                continue
            changed += _write_description(conn, row.id, summary, names, row.last_serial)
    return changed


def _chunks(values: list[_T], size: int = 500) -> Iterable[list[_T]]:
    """Bounded IN lists (SQLite and PostgreSQL cap a statement's parameters)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


# -- sessions ------------------------------------------------------------------------------


def _session_id(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_session(catalog: Catalog, user: User, lifetime: timedelta) -> tuple[str, datetime]:
    """A new session of ``user``: the cookie's secret (only its hash is stored) and its
    expiry. Expired sessions are removed on the way."""
    secret = secrets.token_urlsafe(32)
    now = utc_now()
    expires = now + lifetime
    sessions = schema.web_sessions
    with catalog._guard("sign in"), catalog._write() as conn:
        conn.execute(delete(sessions).where(sessions.c.expires < now))
        conn.execute(insert(sessions).values(id=_session_id(secret), user_id=user.id,
                                             created=now, expires=expires))  # fmt: skip
    return secret, expires


def session_user(catalog: Catalog, secret: str) -> User | None:
    """The user a session cookie signs in, if that session exists and has not expired."""
    sessions, users = schema.web_sessions.c, schema.users
    with catalog._guard("read the session"), catalog._connect() as conn:
        row = conn.execute(
            select(users, sessions.expires.label("session_expires"))
            .join(schema.web_sessions, sessions.user_id == users.c.id)
            .where(sessions.id == _session_id(secret))
        ).first()  # fmt: skip
    if row is None or _aware(row.session_expires) <= utc_now() or row.disabled:
        return None
    return _user(row)


def end_session(catalog: Catalog, secret: str) -> None:
    sessions = schema.web_sessions
    with catalog._guard("sign out"), catalog._write() as conn:
        conn.execute(delete(sessions).where(sessions.c.id == _session_id(secret)))


def end_sessions_of(conn: Connection, user_name: str) -> None:
    """Sign ``user_name`` out everywhere (their password changed), in the caller's transaction."""
    users = schema.users.c
    user_ids = select(users.id).where(users.name == user_name).scalar_subquery()
    conn.execute(delete(schema.web_sessions).where(schema.web_sessions.c.user_id == user_ids))


# -- the audit log, filtered ---------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    action: str = ""
    target: str = ""  # a project, a user, an @group, a token ("token <id>")
    since: datetime | None = None
    until: datetime | None = None


def audit_entries(catalog: Catalog, wanted: AuditFilter, limit: int = 100) -> list[AuditEntry]:
    """The newest ``limit`` entries that match every filter given, newest first."""
    audit = schema.audit.c
    conditions: list[ColumnElement[bool]] = []
    if wanted.actor:
        conditions.append(or_(audit.actor == wanted.actor,
                              audit.actor.like(f"{_escape_like(wanted.actor)} (token %",
                                               escape="\\")))  # fmt: skip
    if wanted.action:
        conditions.append(audit.action == wanted.action)
    if wanted.target:
        conditions.append(or_(audit.target == wanted.target,
                              audit.target.like(f"{_escape_like(wanted.target)} %",
                                                escape="\\")))  # fmt: skip
    if wanted.since is not None:
        conditions.append(audit.time >= wanted.since)
    if wanted.until is not None:
        conditions.append(audit.time < wanted.until)
    query = select(schema.audit).where(*conditions).order_by(audit.id.desc()).limit(limit)
    with catalog._connect() as conn:
        rows = conn.execute(query).all()
    return [AuditEntry(r.id, _aware(r.time), r.actor, r.address, r.action, r.target,
                       json.loads(r.detail) if r.detail else {}) for r in rows]  # fmt: skip


def audit_actions(catalog: Catalog) -> list[str]:
    with catalog._connect() as conn:
        return [str(value) for value in conn.execute(
            select(schema.audit.c.action).distinct().order_by(schema.audit.c.action)).scalars()]
