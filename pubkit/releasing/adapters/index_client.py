"""Asking a package index what it already has, through the PEP 691 JSON simple API."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urljoin

import requests
from packaging.version import InvalidVersion, Version

from pubkit.core.distributions import normalize_name
from pubkit.errors import AuthenticationError, ConfigurationError, PubkitError
from pubkit.settings import redact_url

JSON_V1 = "application/vnd.pypi.simple.v1+json"


class IndexUnavailableError(PubkitError):
    """The index could not be asked (network, server error)."""


@dataclass(frozen=True)
class ProjectListing:
    """What the index holds for one project: versions, each file's sha256 and URL."""

    versions: frozenset[Version] = frozenset()
    files: dict[str, str] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)


class IndexReader(Protocol):
    def project(self, name: str) -> ProjectListing: ...

    def download(self, listing: ProjectListing, filename: str, destination: Path) -> Path: ...


def _verified_copy(chunks: Iterable[bytes], sha256: str, destination: Path, shown: str) -> Path:
    """Write ``chunks`` to ``destination`` only if they hash to ``sha256``."""
    digest = hashlib.sha256()
    partial = destination.with_name(f".{destination.name}.part")
    with partial.open("wb") as out:
        for chunk in chunks:
            digest.update(chunk)
            out.write(chunk)
    if not hmac.compare_digest(digest.hexdigest(), sha256):
        partial.unlink()
        raise IndexUnavailableError(
            f"{shown} does not match the sha256 the index lists for it; retry, and if it"
            " persists, check the index's storage"
        )
    return partial.replace(destination)


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    @classmethod
    def token(cls, token: str) -> Credentials:
        return cls("__token__", token)


class IndexClient:
    """A PEP 691 client for one simple index URL (``https://host/simple/``)."""

    def __init__(
        self,
        index_url: str,
        credentials: Credentials | None = None,
        session: requests.Session | None = None,
        timeout: float = 30.0,
    ) -> None:
        if not index_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"index URL {redact_url(index_url)!r} must start with http:// or https://"
            )
        self.index_url = index_url if index_url.endswith("/") else index_url + "/"
        self.session = session or requests.Session()
        if credentials is not None:
            self.session.auth = (credentials.username, credentials.password)
        self.timeout = timeout
        self._simple_url: str | None = None

    def simple_url(self) -> str:
        """The simple index: the index URL if it is one (PEP 691), else the ``simple/`` under
        it when that is one (the URL given was the server's root); asked once."""
        if self._simple_url is None:
            if self._is_simple_index(self.index_url):
                self._simple_url = self.index_url
            elif self._is_simple_index(urljoin(self.index_url, "simple/")):
                self._simple_url = urljoin(self.index_url, "simple/")
            else:
                raise ConfigurationError(
                    f"{redact_url(self.index_url)} is not a simple index (PEP 691) and neither"
                    f" is {redact_url(urljoin(self.index_url, 'simple/'))}; set PUBKIT_INDEX_URL"
                    " (or index-url in [tool.pubkit], or --index-url) to the index's simple API,"
                    " e.g. https://pypi.example.com/simple/"
                )
        return self._simple_url

    def _is_simple_index(self, url: str) -> bool:
        """Whether ``url`` answers as a PEP 691 project list; the headers are enough, so a
        HEAD (or a GET whose body is not read, where HEAD is refused) asks it."""
        shown = redact_url(url)
        headers = {"Accept": JSON_V1}
        try:
            response = self.session.head(url, headers=headers, timeout=self.timeout,
                                         allow_redirects=True)  # fmt: skip
            if response.status_code == 405:
                with self.session.get(url, headers=headers, timeout=self.timeout,
                                      stream=True) as response:  # fmt: skip
                    pass
        except requests.RequestException as error:
            raise IndexUnavailableError(
                f"could not reach the index at {shown}: {type(error).__name__}; check the URL"
                " and the network, then re-run"
            ) from None
        if response.status_code in (401, 403):
            raise AuthenticationError(
                f"the index at {shown} refused to answer ({response.status_code}); set"
                " PUBKIT_INDEX_USERNAME and PUBKIT_INDEX_PASSWORD (or PUBKIT_INDEX_TOKEN)"
            )
        if response.status_code >= 500:
            raise IndexUnavailableError(
                f"the index answered {response.status_code} for {shown}; retry later"
            )
        content_type = response.headers.get("content-type", "")
        return response.status_code == 200 and content_type.startswith(JSON_V1)

    def project(self, name: str) -> ProjectListing:
        url = urljoin(self.simple_url(), normalize_name(name) + "/")
        shown = redact_url(url)
        try:
            response = self.session.get(url, headers={"Accept": JSON_V1}, timeout=self.timeout)
        except requests.RequestException as error:
            raise IndexUnavailableError(
                f"could not reach the index at {shown}: {type(error).__name__}; check the URL"
                " and the network, then re-run"
            ) from None
        if response.status_code == 404:
            return ProjectListing()
        if response.status_code in (401, 403):
            raise AuthenticationError(
                f"the index refused to list {name} ({response.status_code}); set"
                " PUBKIT_INDEX_USERNAME and PUBKIT_INDEX_PASSWORD (or PUBKIT_INDEX_TOKEN)"
            )
        if response.status_code >= 400:
            raise IndexUnavailableError(
                f"the index answered {response.status_code} for {shown}; retry later"
            )
        content_type = response.headers.get("content-type", "")
        if not content_type.startswith(JSON_V1):
            raise IndexUnavailableError(
                f"{shown} does not speak the PEP 691 JSON API (it sent {content_type!r});"
                " pubkit needs an index that does"
            )
        return _listing(response.json(), response.url)

    def download(self, listing: ProjectListing, filename: str, destination: Path) -> Path:
        """Fetch ``filename`` of ``listing`` to ``destination``, verified against its sha256."""
        url = listing.urls[filename]
        shown = redact_url(url)
        try:
            with self.session.get(url, stream=True, timeout=self.timeout) as response:
                if response.status_code >= 400:
                    raise IndexUnavailableError(
                        f"the index answered {response.status_code} for {shown}; retry later"
                    )
                chunks = response.iter_content(chunk_size=1024 * 1024)
                return _verified_copy(chunks, listing.files[filename], destination, shown)
        except requests.RequestException as error:
            raise IndexUnavailableError(
                f"could not download {shown}: {type(error).__name__}; check the network and"
                " re-run"
            ) from None


def _listing(document: dict[str, object], page_url: str) -> ProjectListing:
    files: dict[str, str] = {}
    urls: dict[str, str] = {}
    versions: set[Version] = set()
    for entry in document.get("files", []) or []:  # type: ignore[attr-defined]
        filename = entry.get("filename")
        sha256 = (entry.get("hashes") or {}).get("sha256")
        url = entry.get("url")
        if isinstance(filename, str) and isinstance(sha256, str):
            files[filename] = sha256
            if isinstance(url, str):
                urls[filename] = urljoin(page_url, url)
    for raw in document.get("versions", []) or []:  # type: ignore[attr-defined]
        try:
            versions.add(Version(str(raw)))
        except InvalidVersion:
            continue
    if not versions:
        # PEP 700's list is optional: fall back on the versions in the filenames.
        from pubkit.core.distributions import parse_distribution_filename

        for filename in files:
            try:
                versions.add(parse_distribution_filename(filename).version)
            except PubkitError:
                continue
    return ProjectListing(frozenset(versions), files, urls)


@dataclass
class FakeIndex:
    """An in-memory index for tests: project name -> listing; ``contents`` holds the bytes
    of the files that may be downloaded."""

    projects: dict[str, ProjectListing] = field(default_factory=dict)
    contents: dict[str, bytes] = field(default_factory=dict)

    def project(self, name: str) -> ProjectListing:
        return self.projects.get(normalize_name(name), ProjectListing())

    def download(self, listing: ProjectListing, filename: str, destination: Path) -> Path:
        return _verified_copy([self.contents[filename]], listing.files[filename], destination,
                              filename)  # fmt: skip
