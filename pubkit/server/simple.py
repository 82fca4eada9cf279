"""The simple repository API: one page model, rendered as PEP 503 HTML or PEP 691 JSON.

Also PEP 592 (yanked), PEP 658/714 (core metadata), PEP 700 (versions, size, upload-time).
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import html
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from packaging.version import InvalidVersion, Version

from pubkit.server.catalog import Catalog, ProjectSummary
from pubkit.server.dependencies import WouldBlock
from pubkit.server.layout import FileRecord

API_VERSION = "1.1"
JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"
JSON_LATEST = "application/vnd.pypi.simple.latest+json"
HTML_LATEST = "application/vnd.pypi.simple.latest+html"
# What we serve, best first: a client that accepts several equally gets JSON.
SERVED_TYPES = (JSON_V1, HTML_V1, TEXT_HTML)
_ALIASES = {JSON_LATEST: JSON_V1, HTML_LATEST: HTML_V1}


# -- content negotiation -------------------------------------------------------------------


def _parse_accept(header: str) -> list[tuple[str, float]]:
    ranges: list[tuple[str, float]] = []
    for item in header.split(","):
        media_type, *params = (part.strip() for part in item.split(";"))
        if not media_type:
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        ranges.append((_ALIASES.get(media_type.lower(), media_type.lower()), quality))
    return ranges


def _range_matches(media_range: str, media_type: str) -> int:
    """How specifically ``media_range`` matches ``media_type``: 2 exact, 1 type/*, 0 */*, -1."""
    if media_range == media_type:
        return 2
    if media_range == "*/*":
        return 0
    kind, _, subtype = media_range.partition("/")
    if subtype == "*" and media_type.startswith(kind + "/"):
        return 1
    return -1


@functools.lru_cache(maxsize=256)
def negotiate(accept: str | None) -> str | None:
    """The media type to answer with, or None when the client accepts none we serve (406).

    Remembered for the Accept headers seen most: a client sends the same one with every
    request (pip's names three types with qualities), and this is asked on every page.
    """
    if not accept or not accept.strip():
        return TEXT_HTML
    ranges = _parse_accept(accept)
    best: tuple[float, int, int, str] | None = None
    for preference, media_type in enumerate(SERVED_TYPES):
        # The most specific range that matches decides this type's quality (RFC 9110).
        matches = [(spec, q) for r, q in ranges if (spec := _range_matches(r, media_type)) >= 0]
        if not matches:
            continue
        specificity, quality = max(matches)
        if quality <= 0:
            continue
        # Named explicitly, JSON wins ties; reached through a wildcard, HTML does, because
        # browsers and curl send */* and expect the page they have always had.
        rank = -preference if specificity == 2 else preference
        candidate = (quality, specificity, rank, media_type)
        if best is None or candidate > best:
            best = candidate
    return best[3] if best else None


# -- the page model ------------------------------------------------------------------------


@dataclass(frozen=True)
class FileLink:
    filename: str
    url: str
    sha256: str  # "" when unknown (an upstream's file advertised without one)
    size: int | None
    upload_time: datetime | None
    requires_python: str | None
    yanked: bool
    yanked_reason: str | None
    metadata_sha256: str | None


@dataclass(frozen=True)
class ProjectPage:
    name: str  # normalized
    files: tuple[FileLink, ...]
    versions: tuple[str, ...]
    last_serial: int
    # PEP 708: the upstream project URLs this page tracks, and where else its files are.
    tracks: tuple[str, ...] = ()
    alternate_locations: tuple[str, ...] = ()


@dataclass(frozen=True)
class IndexPage:
    projects: tuple[ProjectSummary, ...]
    last_serial: int
    # Upstream projects listed too (--upstream-list-cached), normalized, sorted; each comes
    # after a local project of the same name (the guard never lets one be both).
    upstream: tuple[str, ...] = ()

    def entries(self) -> Iterator[tuple[str, str, int | None]]:
        """(name, display name, last serial: None for an upstream's), by name."""
        local = ((p.name, p.display_name, p.last_serial) for p in self.projects)
        if not self.upstream:
            return local
        upstream = ((name, name, None) for name in self.upstream)
        return heapq.merge(local, upstream, key=lambda entry: entry[0])


def file_url(project: str, filename: str) -> str:
    # Relative to /simple/<project>/ so the index works behind a path prefix.
    return f"../../files/{quote(project)}/{quote(filename)}"


def _version_key(version: str) -> tuple[int, Any]:
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def build_project_page(name: str, records: Iterable[FileRecord], last_serial: int) -> ProjectPage:
    ordered = sorted(records, key=lambda r: (_version_key(r.version), r.filename))
    links = tuple(
        FileLink(
            filename=r.filename,
            url=file_url(name, r.filename),
            sha256=r.sha256,
            size=r.size,
            upload_time=r.upload_time,
            requires_python=r.requires_python,
            yanked=r.yanked,
            yanked_reason=r.yanked_reason,
            # Only wheels advertise metadata: an sdist's may be dynamic (PEP 643).
            metadata_sha256=r.metadata_sha256 if r.is_wheel else None,
        )
        for r in ordered
    )
    # One entry per distinct version (1.0 and 1.0.0 are the same release), in version order,
    # normalized as PEP 700 lists them (v01.1 is 1.1).
    versions: dict[object, str] = {}
    for record in ordered:
        key = _version_key(record.version)
        versions.setdefault(key[1], str(key[1]))
    return ProjectPage(name, links, tuple(versions.values()), last_serial)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def render_project_json(page: ProjectPage) -> bytes:
    files = []
    for link in page.files:
        entry: dict[str, Any] = {
            "filename": link.filename,
            "url": link.url,
            "hashes": {"sha256": link.sha256} if link.sha256 else {},
            "requires-python": link.requires_python,
            "yanked": (link.yanked_reason or True) if link.yanked else False,
        }
        if link.size is not None:
            entry["size"] = link.size
        if link.upload_time is not None:
            entry["upload-time"] = _iso(link.upload_time)
        if link.metadata_sha256:
            metadata = {"sha256": link.metadata_sha256}
            entry["core-metadata"] = metadata
            entry["dist-info-metadata"] = metadata  # the pre-PEP 714 name, for older pip
        files.append(entry)
    document = {
        "meta": {"api-version": API_VERSION, "_last-serial": page.last_serial},
        "name": page.name,
        "versions": list(page.versions),
        "files": files,
    }
    if page.tracks:
        document["tracks"] = list(page.tracks)
    if page.alternate_locations:
        document["alternate-locations"] = list(page.alternate_locations)
    return json.dumps(document, separators=(",", ":")).encode()


def _html_document(
    title: str, serial: int, body: Iterable[str], meta: Iterable[tuple[str, str]] = ()
) -> bytes:
    extra = "".join(
        f'<meta name="{name}" content="{html.escape(value)}">\n' for name, value in meta
    )
    head = (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        f'<meta name="pypi:repository-version" content="{API_VERSION}">\n{extra}'
        f"<title>{html.escape(title)}</title>\n</head>\n<body>\n"
    )
    return (head + "".join(body) + f"</body>\n</html>\n<!--SERIAL {serial}-->\n").encode()


def render_project_html(page: ProjectPage) -> bytes:
    def anchor(link: FileLink) -> str:
        fragment = f"#sha256={link.sha256}" if link.sha256 else ""
        attributes = [f'href="{html.escape(link.url)}{fragment}"']
        if link.requires_python:
            attributes.append(f'data-requires-python="{html.escape(link.requires_python)}"')
        if link.metadata_sha256:
            value = f"sha256={link.metadata_sha256}"
            attributes.append(f'data-core-metadata="{value}"')
            attributes.append(f'data-dist-info-metadata="{value}"')
        if link.yanked:
            attributes.append(f'data-yanked="{html.escape(link.yanked_reason or "")}"')
        return f"<a {' '.join(attributes)}>{html.escape(link.filename)}</a><br>\n"

    body = [f"<h1>Links for {html.escape(page.name)}</h1>\n", *map(anchor, page.files)]
    meta = [("pypi:tracks", url) for url in page.tracks]
    meta += [("pypi:alternate-locations", url) for url in page.alternate_locations]
    return _html_document(f"Links for {page.name}", page.last_serial, body, meta)


def render_index_json(page: IndexPage) -> bytes:
    document = {
        "meta": {"api-version": API_VERSION, "_last-serial": page.last_serial},
        "projects": [
            {"name": shown, "_last-serial": serial} if serial is not None else {"name": shown}
            for _, shown, serial in page.entries()
        ],
    }
    return json.dumps(document, separators=(",", ":")).encode()


def render_index_html(page: IndexPage) -> bytes:
    body = (
        f'<a href="{quote(name)}/">{html.escape(shown)}</a><br>\n'
        for name, shown, _ in page.entries()
    )
    return _html_document("Simple index", page.last_serial, body)


def render_index(page: IndexPage, media_type: str, checked: int) -> RenderedPage:
    body = render_index_json(page) if media_type == JSON_V1 else render_index_html(page)
    return _render(body, media_type, page.last_serial, checked)


# -- rendered pages and their cache --------------------------------------------------------


@dataclass
class RenderedPage:
    body: bytes
    media_type: str
    etag: str
    last_serial: int
    # The catalog serial at which this page was last known to be current.
    checked_serial: int = field(default=0, compare=False)
    # The HTTP headers every answer with this page carries, made at its first answer
    # (pubkit.server.simple_app.send_page).
    headers: tuple[tuple[bytes, bytes], ...] | None = field(default=None, compare=False)


def _render(body: bytes, media_type: str, last_serial: int, checked: int) -> RenderedPage:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return RenderedPage(body, media_type, etag, last_serial, checked)


def render_project(page: ProjectPage, media_type: str, checked: int) -> RenderedPage:
    """A project page rendered for ``media_type`` (for pages not built from the catalog)."""
    return _render_project(page, media_type, checked)


def _render_project(page: ProjectPage, media_type: str, checked: int) -> RenderedPage:
    body = render_project_json(page) if media_type == JSON_V1 else render_project_html(page)
    return _render(body, media_type, page.last_serial, checked)


class SimplePages:
    """Rendered simple pages, kept per worker and revalidated against the catalog serial.

    A request costs one serial read while nothing changed; after any change, a cached project
    page is kept if that project's own serial did not move.
    """

    def __init__(self, catalog: Catalog, max_bytes: int = 8 * 1024 * 1024) -> None:
        self.catalog = catalog
        # Bounded by bytes, not entries: a worker's memory stays flat whatever the corpus.
        self.max_bytes = max_bytes
        self._pages: OrderedDict[tuple[str, str], RenderedPage] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        # For the metrics: lookups, and the ones that had to render (the rest were hits).
        self.lookups = 0
        self.rendered = 0

    def _get(self, key: tuple[str, str]) -> RenderedPage | None:
        with self._lock:
            self.lookups += 1
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def _put(self, key: tuple[str, str], page: RenderedPage) -> None:
        with self._lock:
            self.rendered += 1
            replaced = self._pages.pop(key, None)
            if replaced is not None:
                self._bytes -= len(replaced.body)
            self._pages[key] = page
            self._bytes += len(page.body)
            while self._bytes > self.max_bytes and len(self._pages) > 1:
                _, evicted = self._pages.popitem(last=False)
                self._bytes -= len(evicted.body)

    def project(
        self, name: str, media_type: str, serial: int | None = None
    ) -> RenderedPage | None:
        """The rendered page of project ``name`` (normalized), or None if it has no files;
        ``serial``: the catalog serial, when the caller has just read it."""
        if serial is None:
            serial = self.catalog.serial()
        key = (name, media_type)
        cached = self._get(key)
        if cached is not None and cached.checked_serial == serial:
            return cached
        summary = self.catalog.project(name)
        if summary is None:
            return None
        if cached is not None and cached.last_serial == summary.last_serial:
            cached.checked_serial = serial
            return cached
        records = self.catalog.project_files(name)
        if not records:
            return None
        page = build_project_page(name, records, summary.last_serial)
        rendered = _render_project(page, media_type, serial)
        self._put(key, rendered)
        return rendered

    def current_project(self, name: str, media_type: str, serial: int) -> RenderedPage | None:
        """The cached page of ``name`` if it was checked at ``serial``; else None. Never a
        query (the read path's first try, on the event loop)."""
        key = (name, media_type)
        with self._lock:
            page = self._pages.get(key)
            if page is None or page.checked_serial != serial:
                return None  # not counted: project() looks it up next, and counts that
            self.lookups += 1
            self._pages.move_to_end(key)
            return page

    def cached_project(self, name: str, media_type: str, _serial: int = 0) -> RenderedPage:
        """The page of ``name`` as this worker last rendered it, whatever the serial then
        (the catalog is not answering); WouldBlock when there is none."""
        return self._cached((name, media_type))

    def cached_index(
        self, media_type: str, private: frozenset[str] = frozenset(), _serial: int = 0
    ) -> RenderedPage:
        """:meth:`cached_project` for the project list."""
        return self._cached(self.index_key(media_type, private))

    def _cached(self, key: tuple[str, str]) -> RenderedPage:
        page = self._get(key)
        if page is None:
            raise WouldBlock
        return page

    @staticmethod
    def index_key(media_type: str, private: frozenset[str]) -> tuple[str, str]:
        return ("", media_type + "".join(sorted(" " + name for name in private)))

    def index(
        self, media_type: str, private: frozenset[str] = frozenset(), serial: int | None = None
    ) -> RenderedPage:
        """The project list: every public project, and of the private ones those named."""
        if serial is None:
            serial = self.catalog.serial()
        key = self.index_key(media_type, private)
        cached = self._get(key)
        if cached is not None and cached.checked_serial == serial:
            return cached
        rendered = render_index(self.index_page(private, serial), media_type, serial)
        self._put(key, rendered)
        return rendered

    def index_page(
        self, private: frozenset[str], serial: int, upstream: tuple[str, ...] = ()
    ) -> IndexPage:
        """Blocking (catalog): every public project and of the private ones those named;
        with ``upstream``'s names (--upstream-list-cached)."""
        shown = (p for p in self.catalog.projects() if not p.private or p.name in private)
        return IndexPage(tuple(shown), serial, upstream)
