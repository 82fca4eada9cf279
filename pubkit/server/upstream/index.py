"""The upstream seen from the read path: the guard, quarantine, and the pages it produces.

The guard decides, per name and catalog serial, where a project page comes from:

- ``local``: the name has a project on this index (files or not, private or not), is
  reserved (``pubkit project reserve``), or matches an ``--internal-names`` pattern; and it
  is not tracked. The upstream is never asked, whatever it has (dependency confusion);
- ``tracked``: a local project whose owner opted in (``pubkit project track --upstream``):
  its page holds the local files and the upstream's (a local filename wins), and says so
  with PEP 708's ``tracks`` and ``alternate-locations``;
- ``upstream``: any other name: the upstream's page, its file URLs pointing here (cache
  mode) or at the upstream (redirect mode).

Upstream files that the page dates less than the quarantine ago (``--upstream-min-age``, or
the name's own rule) are left out; yanks and PEP 658 metadata are passed on.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urljoin

from packaging.utils import InvalidSdistFilename, InvalidWheelFilename

from pubkit.core.distributions import parse_distribution_filename
from pubkit.errors import PubkitError
from pubkit.server.catalog import Catalog, UpstreamRule
from pubkit.server.dependencies import Dependency
from pubkit.server.simple import (
    FileLink,
    ProjectPage,
    RenderedPage,
    _version_key,
    build_project_page,
    render_project,
)
from pubkit.server.storage import Storage
from pubkit.server.upstream.client import UpstreamClient, UpstreamFile, public
from pubkit.server.upstream.listing import CachedListing
from pubkit.server.upstream.pages import Lookup, UpstreamPage, UpstreamPages
from pubkit.settings import ServerSettings, internal_patterns, upstream_urls

LOCAL, TRACKED, UPSTREAM = "local", "tracked", "upstream"
# Decisions and rendered pages kept per worker (a rendered page is a few KiB).
MAX_ENTRIES = 4096
UPSTREAM_FILES = "/upstream/files/"
FILES_PREFIX = ".upstream/files/"  # in storage: the cached files, each with a sidecar


def cached_key(name: str, filename: str) -> str:
    """Where the upstream file ``filename`` of ``name`` (or its ``.metadata``) is kept."""
    return f"{FILES_PREFIX}{name}/{filename}"


def upstream_file_url(name: str, filename: str) -> str:
    # Relative to /simple/<project>/, like the local files' URLs.
    return f"../../upstream/files/{quote(name)}/{quote(filename)}"


@dataclass
class _Rendered:
    page: RenderedPage
    serial: int
    version: int
    until: float  # monotonic: when a quarantined file comes of age, or the TTL ends


class UpstreamIndex:
    def __init__(
        self,
        settings: ServerSettings,
        catalog: Catalog,
        storage: Storage,
        calls: Dependency,
        storage_calls: Dependency,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.mode = settings.upstream_mode
        self.patterns = internal_patterns(settings)
        self.min_age = settings.upstream_min_age
        self.client = UpstreamClient(settings.upstream_timeout)
        self.pages = UpstreamPages(self.client, upstream_urls(settings), settings.upstream_ttl,
                                   settings.upstream_timeout, storage, calls,
                                   storage_calls)  # fmt: skip
        self._lock = threading.Lock()
        self._serial = -1
        self._decisions: dict[str, str] = {}
        self._rules: dict[str, UpstreamRule] = {}
        self._rendered: OrderedDict[tuple[str, str], _Rendered] = OrderedDict()
        # --upstream-list-cached: /simple/ lists the cached upstream projects too.
        self.listing: CachedListing | None = None
        if settings.upstream_list_cached:
            self.listing = CachedListing(self, catalog, storage, storage_calls)

    # -- the guard -------------------------------------------------------------------------

    def internal(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.patterns)

    def known_decision(self, name: str, serial: int) -> str | None:
        with self._lock:
            return self._decisions.get(name) if serial == self._serial else None

    def decide(self, name: str, serial: int) -> str:
        """Blocking (catalog) on a miss: where the page of ``name`` comes from, at ``serial``."""
        known = self.known_decision(name, serial)
        if known is not None:
            return known
        with self._lock:
            fresh_rules = serial != self._serial
        rules = self.catalog.upstream_rules() if fresh_rules else self._rules
        decision = self.guard(name, self.catalog.project(name) is not None, rules.get(name))
        with self._lock:
            if serial != self._serial:
                self._serial, self._decisions, self._rules = serial, {}, rules
                self._rendered.clear()
            if len(self._decisions) >= MAX_ENTRIES:
                self._decisions.clear()  # names probed at random must not grow it forever
            self._decisions[name] = decision
        return decision

    def guard(self, name: str, local: bool, rule: UpstreamRule | None) -> str:
        """Where the page of ``name`` comes from, given whether it has a project here
        (``local``) and its rule (see the module docstring)."""
        if rule is not None and rule.tracked and local:
            return TRACKED
        if local or (rule is not None and rule.reserved) or self.internal(name):
            return LOCAL
        return UPSTREAM

    def from_upstream(self, name: str, local: bool, rule: UpstreamRule | None) -> bool:
        """Whether the page of ``name`` is the upstream's alone (:meth:`guard`)."""
        return self.guard(name, local, rule) == UPSTREAM

    def min_age_for(self, rule: UpstreamRule | None) -> float:
        """The quarantine of a name with ``rule``: its own, or the server's."""
        return rule.min_age if rule is not None and rule.min_age is not None else self.min_age

    def min_age_of(self, name: str) -> float:
        return self.min_age_for(self._rules.get(name))

    def offered(self, name: str, page: UpstreamPage) -> tuple[list[UpstreamFile], float]:
        """The files of ``page`` past their quarantine, and when (monotonic) the next one
        comes of age (inf: none waits)."""
        min_age = self.min_age_of(name)
        if not page.files:
            return [], float("inf")
        if min_age <= 0:
            return list(page.files), float("inf")
        now = datetime.now(timezone.utc)
        cutoff = now - timedelta(seconds=min_age)
        offered, until = [], float("inf")
        for file in page.files:
            uploaded = file.upload_time
            if uploaded is not None and uploaded.tzinfo is None:
                uploaded = uploaded.replace(tzinfo=timezone.utc)
            if uploaded is None or uploaded <= cutoff:
                offered.append(file)
            else:
                matures = (uploaded - cutoff).total_seconds()
                until = min(until, time.monotonic() + matures)
        return offered, until

    # -- pages -----------------------------------------------------------------------------

    def current(self, name: str, media_type: str, serial: int) -> RenderedPage | None:
        """The rendered page of an upstream or tracked name if nothing it depends on moved
        (never waits: the read path's first try)."""
        rendered = self._rendered.get((name, media_type))
        if rendered is None or rendered.serial != serial or time.monotonic() >= rendered.until:
            return None
        page = self.pages.fresh(name)
        if page is None or page.version != rendered.version:
            return None
        self.pages.stats.hits += 1  # served from this worker's cache, like a fresh page
        return rendered.page

    def render(
        self, name: str, media_type: str, serial: int, lookup: Lookup,
        local: ProjectPage | None,
    ) -> RenderedPage | None:  # fmt: skip
        """The page of ``name`` from the upstream's ``lookup`` (merged into ``local``, a
        tracked project's page); None when neither has a file."""
        page = lookup.page
        files, until = self.offered(name, page)
        links = {link.filename: link for link in (local.files if local else ())}
        for file in files:
            links.setdefault(file.filename, self._link(name, file))
        if not links:
            return None
        tracks: tuple[str, ...] = ()
        if page.source is not None:
            tracks = (public(urljoin(page.source, quote(name) + "/")),)
        built = build_page(name, list(links.values()), local.last_serial if local else serial,
                           tracks)  # fmt: skip
        rendered = render_project(built, media_type, serial)
        if not lookup.stale:
            until = min(until, time.monotonic() + self.pages.ttl)
            with self._lock:
                self._rendered[(name, media_type)] = _Rendered(rendered, serial, page.version,
                                                               until)  # fmt: skip
                while len(self._rendered) > MAX_ENTRIES:
                    self._rendered.popitem(last=False)
        return rendered

    def _link(self, name: str, file: UpstreamFile) -> FileLink:
        url = upstream_file_url(name, file.filename) if self.mode == "cache" else file.url
        metadata = file.metadata_hashes or {}
        return FileLink(
            filename=file.filename, url=url, sha256=file.hashes.get("sha256", ""),
            size=file.size, upload_time=file.upload_time, requires_python=file.requires_python,
            yanked=file.yanked, yanked_reason=file.yanked_reason,
            metadata_sha256=metadata.get("sha256") if file.metadata_hashes is not None else None,
        )  # fmt: skip

    async def offered_file(self, name: str, filename: str) -> UpstreamFile | None:
        """The upstream file ``filename`` of ``name`` if its page offers it now."""
        lookup = await self.pages.get(name)
        files, _ = self.offered(name, lookup.page)
        return next((f for f in files if f.filename == filename), None)

    def close(self) -> None:
        self.client.close()


def version_of(filename: str) -> str:
    try:
        return str(parse_distribution_filename(filename).version)
    except (PubkitError, InvalidWheelFilename, InvalidSdistFilename, ValueError):
        return ""


def build_page(
    name: str, links: list[FileLink], last_serial: int, tracks: tuple[str, ...]
) -> ProjectPage:
    """A project page from links (local and upstream), in version order like the local ones."""
    ordered = sorted(links, key=lambda link: (_version_key(version_of(link.filename)),
                                              link.filename))  # fmt: skip
    versions: dict[object, str] = {}
    for link in ordered:
        version = version_of(link.filename)
        if version:
            versions.setdefault(_version_key(version)[1], version)
    return ProjectPage(name, tuple(ordered), tuple(versions.values()), last_serial,
                       tracks=tracks, alternate_locations=tracks)  # fmt: skip


__all__ = ["LOCAL", "TRACKED", "UPSTREAM", "UpstreamIndex", "build_page", "build_project_page"]
