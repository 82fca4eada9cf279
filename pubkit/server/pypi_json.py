"""PyPI's JSON API (``/pypi/<project>/json``, ``/pypi/<project>/<version>/json``), which
update bots (Renovate, Dependabot) read, as a bare ASGI app.

The answer has the shape of PyPI's for the fields those bots read: ``info`` (the latest
release's core metadata, its version), ``releases`` (every version's files with their
upload times, digests and yanked flags), ``urls`` (the latest release's files) and
``last_serial``. It follows the read policy of ``/simple/``: a private project answers as a
missing one does.

The project's files come from the catalog (revalidated against its serial like the simple
pages); ``info`` is read from the stored core metadata of the release's file, which never
changes once published, so each is read from storage once per worker.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, unquote

from packaging.metadata import parse_email
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from pubkit.core.distributions import normalize_name, parse_distribution_filename
from pubkit.errors import NotFoundError
from pubkit.server.asgi import (
    ReadOnlyApp,
    Scope,
    Send,
    header,
    send_response,
)
from pubkit.server.catalog import Catalog
from pubkit.server.layout import METADATA_SUFFIX, FileRecord, metadata_key
from pubkit.server.services import Services
from pubkit.server.storage import Storage
from pubkit.server.upstream.client import UpstreamFile
from pubkit.server.upstream.index import (
    LOCAL,
    TRACKED,
    UPSTREAM_FILES,
    UpstreamIndex,
    cached_key,
    version_of,
)

PREFIX = "/pypi/"
JSON_TYPE = b"application/json"
# Renovate and Dependabot ask again on every run: let them revalidate, never keep it.
CACHE_CONTROL = b"max-age=0, must-revalidate"
VARY = b"Authorization"
# Info fields PyPI has that this index cannot know; they are answered as PyPI does without.
_DOWNLOADS = {"last_day": -1, "last_month": -1, "last_week": -1}


@dataclass(frozen=True)
class ListedFile:
    """A file as this API lists it: a local one (every field known), or an upstream's
    (digests, size and upload time as far as its page gives them)."""

    project: str
    filename: str
    version: str
    packagetype: str
    size: int | None
    digests: dict[str, str]  # PyPI's names: sha256, md5, blake2b_256
    requires_python: str | None
    metadata_sha256: str | None
    upload_time: datetime | None
    yanked: bool
    yanked_reason: str | None
    url: str  # relative to the index's root
    metadata_key: str  # where its core metadata is stored (if it is)

    @property
    def is_wheel(self) -> bool:
        return self.packagetype == "bdist_wheel"

    @classmethod
    def from_record(cls, record: FileRecord) -> ListedFile:
        return cls(
            record.project, record.filename, record.version, record.packagetype, record.size,
            {"blake2b_256": record.blake2_256, "md5": record.md5, "sha256": record.sha256},
            record.requires_python, record.metadata_sha256, record.upload_time, record.yanked,
            record.yanked_reason, f"files/{quote(record.project)}/{quote(record.filename)}",
            metadata_key(record.project, record.filename),
        )  # fmt: skip


def from_upstream(name: str, file: UpstreamFile, mode: str) -> ListedFile | None:
    """An upstream file as listed here (None: a filename that is no distribution's)."""
    version = version_of(file.filename)
    if not version:
        return None
    packagetype = parse_distribution_filename(file.filename).packagetype
    url = file.url if mode == "redirect" else (
        f"{UPSTREAM_FILES.lstrip('/')}{quote(name)}/{quote(file.filename)}")  # fmt: skip
    digests = {("blake2b_256" if k == "blake2b" else k): v for k, v in file.hashes.items()}
    metadata = file.metadata_hashes.get("sha256") if file.metadata_hashes else None
    return ListedFile(
        name, file.filename, version, packagetype, file.size, digests, file.requires_python,
        metadata, file.upload_time, file.yanked, file.yanked_reason, url,
        cached_key(name, file.filename + METADATA_SUFFIX),
    )  # fmt: skip


@dataclass(frozen=True)
class ProjectState:
    """What the catalog (or the upstream) says about a project at a serial: its files, and
    its serial."""

    display_name: str
    last_serial: int
    records: tuple[ListedFile, ...]


def _version(value: str) -> Version | None:
    try:
        return Version(value)
    except InvalidVersion:
        return None


def _releases(records: Sequence[ListedFile]) -> dict[str, list[ListedFile]]:
    """Files by release, in version order, keyed by the version as uploaded (its first file's)."""
    grouped: dict[object, list[ListedFile]] = {}
    for record in records:
        grouped.setdefault(_version(record.version) or record.version, []).append(record)

    def order(key: object) -> tuple[int, Any]:
        return (1, key) if isinstance(key, Version) else (0, str(key))

    return {
        files[0].version: sorted(files, key=lambda r: (r.packagetype, r.filename))
        for _, files in sorted(grouped.items(), key=lambda item: order(item[0]))
    }


def latest_version(releases: dict[str, list[ListedFile]]) -> str:
    """The release ``info`` describes, as PyPI picks it: the highest final release with a
    file that is not yanked; else the highest such pre-release; else the highest of all."""
    live = [v for v, files in releases.items() if any(not f.yanked for f in files)]
    final = [v for v in live if (parsed := _version(v)) is not None and not parsed.is_prerelease]
    for candidates in (final, live, list(releases)):
        if candidates:
            return candidates[-1]  # releases are in version order
    raise ValueError("a project without files")


def find_release(releases: dict[str, list[ListedFile]], asked: str) -> str | None:
    """The release ``asked`` names, however it is spelled (1.0 finds 1.0.0)."""
    if asked in releases:
        return asked
    wanted = _version(asked)
    if wanted is None:
        return None
    return next((v for v in releases if _version(v) == wanted), None)


def _python_version(record: ListedFile) -> str:
    if not record.is_wheel:
        return "source"
    try:
        tags = parse_wheel_filename(record.filename)[3]
    except InvalidWheelFilename:
        return "any"
    return ".".join(sorted({tag.interpreter for tag in tags}))


def file_entry(record: ListedFile, base: str) -> dict[str, Any]:
    """One file as PyPI's JSON API lists it."""
    moment = record.upload_time.astimezone(timezone.utc) if record.upload_time else None
    return {
        "comment_text": "",
        "digests": dict(record.digests),
        "downloads": -1,
        "filename": record.filename,
        "has_sig": False,
        "md5_digest": record.digests.get("md5"),
        "packagetype": record.packagetype,
        "python_version": _python_version(record),
        "requires_python": record.requires_python,
        "size": record.size,
        "upload_time": moment.strftime("%Y-%m-%dT%H:%M:%S") if moment else None,
        "upload_time_iso_8601": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if moment else None,
        "url": record.url if "://" in record.url else f"{base}/{record.url}",
        "yanked": record.yanked,
        "yanked_reason": record.yanked_reason if record.yanked else None,
        "core-metadata": (
            {"sha256": record.metadata_sha256}
            if record.metadata_sha256 and record.is_wheel
            else False
        ),
    }


def info_from_metadata(raw: bytes | None) -> dict[str, Any]:
    """The ``info`` fields core metadata gives (None for what it lacks), as PyPI names them."""
    fields: dict[str, Any] = {}
    if raw is not None:
        fields = dict(parse_email(raw)[0])
    keywords = fields.get("keywords")
    return {
        "author": fields.get("author"),
        "author_email": fields.get("author_email"),
        "classifiers": fields.get("classifiers", []),
        "description": fields.get("description", ""),
        "description_content_type": fields.get("description_content_type"),
        "download_url": fields.get("download_url"),
        "dynamic": fields.get("dynamic"),
        "home_page": fields.get("home_page"),
        "keywords": ", ".join(keywords) if keywords else None,
        "license": fields.get("license"),
        "license_expression": fields.get("license_expression"),
        "license_files": fields.get("license_files"),
        "maintainer": fields.get("maintainer"),
        "maintainer_email": fields.get("maintainer_email"),
        "platform": ", ".join(fields["platforms"]) if fields.get("platforms") else None,
        "project_urls": fields.get("project_urls") or None,
        "provides_extra": fields.get("provides_extra"),
        "requires_dist": fields.get("requires_dist"),
        "requires_python": fields.get("requires_python"),
        "summary": fields.get("summary"),
    }


def render(
    state: ProjectState,
    version: str,
    metadata: bytes | None,
    base: str,
    with_releases: bool,
) -> bytes:
    """The JSON document for ``version`` of the project (``with_releases``: the project's
    own endpoint, which also lists every release)."""
    releases = _releases(state.records)
    files = releases[version]
    name = state.records[0].project
    info = info_from_metadata(metadata)
    project_url = f"{base}/simple/{quote(name)}/"
    info.update(
        name=state.display_name,
        version=version,
        bugtrack_url=None,
        docs_url=None,
        downloads=_DOWNLOADS,
        package_url=project_url,
        project_url=project_url,
        release_url=f"{base}/pypi/{quote(name)}/{quote(version)}/json",
        yanked=all(f.yanked for f in files),
        yanked_reason=next((f.yanked_reason for f in files if f.yanked_reason), None)
        if all(f.yanked for f in files)
        else None,
    )
    if info["requires_python"] is None:
        info["requires_python"] = next((f.requires_python for f in files if f.requires_python),
                                       None)  # fmt: skip
    document: dict[str, Any] = {"info": dict(sorted(info.items()))}
    document["last_serial"] = state.last_serial
    if with_releases:
        document["releases"] = {
            v: [file_entry(f, base) for f in release] for v, release in releases.items()
        }
    document["urls"] = [file_entry(f, base) for f in files]
    document["vulnerabilities"] = []
    return json.dumps(document, separators=(",", ":")).encode()


def metadata_file(files: Sequence[ListedFile]) -> ListedFile | None:
    """The file whose stored core metadata describes a release: a wheel's, else an sdist's."""
    return next((f for f in sorted(files, key=lambda r: not r.is_wheel) if f.metadata_sha256), None)


class JsonDocuments:
    """Rendered answers and the core metadata they are built from, cached per worker.

    A rendered answer is reused while the project's serial does not move (and rendered again
    after any change to it); core metadata is immutable and kept by file.
    """

    def __init__(self, catalog: Catalog, storage: Storage, max_entries: int = 512) -> None:
        self.catalog = catalog
        self.storage = storage
        self.max_entries = max_entries
        self._answers: OrderedDict[tuple[str, str, str], tuple[int, int, bytes | None]] = (
            OrderedDict()
        )
        self._metadata: OrderedDict[str, bytes | None] = OrderedDict()
        self._lock = threading.Lock()

    def cached(self, key: tuple[str, str, str], serial: int) -> bytes | bool | None:
        """The answer if it was checked at ``serial`` (None: there is none), else False."""
        with self._lock:
            found = self._answers.get(key)
            if found is None or found[1] != serial:
                return False
            self._answers.move_to_end(key)
            return found[2]

    def state(self, key: tuple[str, str, str], serial: int) -> ProjectState | bytes | None:
        """Blocking (catalog): the cached answer if the project did not change since, else
        what to render it from; None when the project has no files."""
        name = key[0]
        summary = self.catalog.project(name)
        if summary is None:
            return None
        with self._lock:
            found = self._answers.get(key)
            if found is not None and found[0] == summary.last_serial and found[2] is not None:
                self._answers[key] = (found[0], serial, found[2])
                return found[2]
        records = self.catalog.project_files(name)
        if not records:
            return None
        listed = tuple(ListedFile.from_record(record) for record in records)
        return ProjectState(summary.display_name, summary.last_serial, listed)

    def remember(self, key: tuple[str, str, str], last_serial: int, serial: int,
                 body: bytes | None) -> None:  # fmt: skip
        with self._lock:
            self._answers[key] = (last_serial, serial, body)
            self._answers.move_to_end(key)
            while len(self._answers) > self.max_entries:
                self._answers.popitem(last=False)

    def known_metadata(self, record: ListedFile) -> bytes | bool | None:
        with self._lock:
            return self._metadata.get(record.filename, False)

    def read_metadata(self, record: ListedFile) -> bytes | None:
        """Blocking (storage): the stored core metadata of ``record``; None if it is gone."""
        try:
            raw: bytes | None = self.storage.read_bytes(record.metadata_key)
        except NotFoundError:
            raw = None
        with self._lock:
            self._metadata[record.filename] = raw
            while len(self._metadata) > self.max_entries:
                self._metadata.popitem(last=False)
        return raw


def base_url(scope: Scope) -> str:
    """The index's own URL as the client reached it, for the absolute URLs PyPI answers with."""
    host = header(scope, b"host") or "localhost"
    return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}"


def parse_path(path: str) -> tuple[str, str | None] | None:
    """(project, version or None) from ``/pypi/<project>[/<version>]/json``; None otherwise."""
    parts = unquote(path[len(PREFIX) :]).split("/")
    if parts and parts[-1] == "":
        parts.pop()  # a trailing slash is accepted, as PyPI does
    if len(parts) not in (2, 3) or parts[-1] != "json" or not all(parts[:-1]):
        return None
    return parts[0], (parts[1] if len(parts) == 3 else None)


class PypiJsonApp(ReadOnlyApp):
    served = "the JSON API is"
    action = "JSON API request"

    def __init__(self, services: Services) -> None:
        self.services = services
        self.documents = JsonDocuments(services.catalog, services.storage)

    async def _handle(self, scope: Scope, send: Send) -> None:
        parsed = parse_path(scope["path"])
        if parsed is None:
            raise NotFoundError(
                f"{scope['path']} is not a page of the JSON API"
                " (/pypi/<project>/json or /pypi/<project>/<version>/json)"
            )
        asked, version = parsed
        name = normalize_name(asked)
        services = self.services
        current = services.serials.now() or await services.serials.current()
        serial, stale = current.value, not current.fresh
        principal = await services.reader(scope, name, serial, stale)
        body = await self._answer(name, version, base_url(scope), serial, stale)
        if body is None:
            absent = await services.absent(scope, principal, name, serial, stale)
            if isinstance(absent, NotFoundError) and version is not None:
                # A version that is not there answers as a project that is not (no probing).
                raise NotFoundError(f"{name} {version} is not on this index")
            raise absent
        headers = [
            (b"content-type", JSON_TYPE),
            (b"cache-control", CACHE_CONTROL),
            (b"vary", VARY),
        ]
        await send_response(send, 200, body, headers, include_body=scope["method"] != "HEAD")

    async def _answer(
        self, name: str, version: str | None, base: str, serial: int, stale: bool
    ) -> bytes | None:
        key = (name, version or "", base)
        documents = self.documents
        cached = documents.cached(key, serial)
        if cached is not False:
            assert cached is None or isinstance(cached, bytes)
            return cached
        calls = self.services.catalog_calls
        upstream = self.services.upstream
        decision = LOCAL
        if upstream is not None:
            decided = upstream.known_decision(name, serial)
            decision = decided if decided is not None else await calls.offload(
                upstream.decide, name, serial, stale=stale)  # fmt: skip
        if decision == LOCAL:
            state = await calls.offload(documents.state, key, serial, stale=stale)
            if state is None or isinstance(state, bytes):
                return state
        else:
            assert upstream is not None
            state = await self._upstream_state(upstream, name, key, serial, stale, decision)
            if state is None:
                return None
        releases = _releases(state.records)
        chosen = latest_version(releases) if version is None else find_release(releases, version)
        if chosen is None:
            if decision == LOCAL:
                documents.remember(key, state.last_serial, serial, None)
            return None
        described = metadata_file(releases[chosen])
        metadata: bytes | None = None
        if described is not None:
            known = documents.known_metadata(described)
            if known is False:
                known = await self.services.storage_calls.run(documents.read_metadata, described)
            assert known is None or isinstance(known, bytes)
            metadata = known
        body = render(state, chosen, metadata, base, with_releases=version is None)
        if decision == LOCAL:  # an upstream's answer follows its page cache, not the catalog
            documents.remember(key, state.last_serial, serial, body)
        return body

    async def _upstream_state(
        self, upstream: UpstreamIndex, name: str, key: tuple[str, str, str], serial: int,
        stale: bool, decision: str,
    ) -> ProjectState | None:  # fmt: skip
        """The files of an upstream name (with a tracked project's own, which win)."""
        local: ProjectState | None = None
        if decision == TRACKED:
            found = await self.services.catalog_calls.offload(
                self.documents.state, key, serial, stale=stale)  # fmt: skip
            if isinstance(found, ProjectState):
                local = found
        lookup = await upstream.pages.get(name)
        offered, _ = upstream.offered(name, lookup.page)
        files = {f.filename: f for f in (local.records if local else ())}
        for file in offered:
            listed = from_upstream(name, file, upstream.mode)
            if listed is not None:
                files.setdefault(listed.filename, listed)
        if not files:
            return None
        return ProjectState(local.display_name if local else name,
                            local.last_serial if local else serial, tuple(files.values()))
