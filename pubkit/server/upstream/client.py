"""Talking to an upstream index: its project pages (PEP 691 JSON or PEP 503 HTML) and files.

Blocking calls (run in the upstream's own threads, :mod:`pubkit.server.dependencies`), each
bounded three ways: the connect timeout, the read timeout of every socket read, and a
deadline on the whole call, which :mod:`~pubkit.server.upstream.deadline`'s watchdog
enforces by shutting the call's socket down (an upstream that trickles a byte a second is
cut off mid-read): a page's whole answer within three timeouts; a file's headers within
three timeouts, then its body at ``MIN_RATE`` on average at least, after a grace period.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urldefrag, urljoin, urlsplit, urlunsplit

from pubkit import __version__
from pubkit.errors import UpstreamError
from pubkit.server.upstream.deadline import Call, Watchdog, watched_adapter
from pubkit.settings import redact_url

if TYPE_CHECKING:
    import requests

ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2,"
    " text/html;q=0.1"
)
MAX_PAGE = 64 * 1024 * 1024
CHUNK = 64 * 1024
# A file's body, after its grace period (three timeouts, at least one chunk at this rate),
# must come at least this fast on average: 100 MiB in under two hours.
MIN_RATE = 16 * 1024
# The hashes a file's bytes are checked against, strongest first.
CHECKED_HASHES = ("sha256", "sha384", "sha512", "sha224", "md5")


@dataclass(frozen=True)
class UpstreamFile:
    """One file of an upstream project page."""

    filename: str
    url: str  # absolute, without fragment
    hashes: dict[str, str]
    requires_python: str | None = None
    yanked: bool = False
    yanked_reason: str | None = None
    upload_time: datetime | None = None
    size: int | None = None
    # The PEP 658 metadata's hashes ({} when offered without one); None: not offered.
    metadata_hashes: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "filename": self.filename, "url": self.url, "hashes": self.hashes,
            "requires_python": self.requires_python, "yanked": self.yanked,
            "yanked_reason": self.yanked_reason,
            "upload_time": self.upload_time.isoformat() if self.upload_time else None,
            "size": self.size, "metadata_hashes": self.metadata_hashes,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UpstreamFile:
        uploaded = data.get("upload_time")
        return cls(
            filename=data["filename"], url=data["url"], hashes=dict(data["hashes"]),
            requires_python=data.get("requires_python"), yanked=bool(data.get("yanked")),
            yanked_reason=data.get("yanked_reason"),
            upload_time=datetime.fromisoformat(uploaded) if uploaded else None,
            size=data.get("size"), metadata_hashes=data.get("metadata_hashes"),
        )  # fmt: skip


@dataclass
class PageAnswer:
    """An upstream's answer for one project: ``files`` (None: the page was not modified),
    or ``missing``; with the validators to revalidate it next time."""

    source: str  # the upstream simple URL that answered
    files: list[UpstreamFile] | None = None
    missing: bool = False
    etag: str | None = None
    last_modified: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def _hash_fragment(url: str) -> tuple[str, dict[str, str]]:
    bare, fragment = urldefrag(url)
    algorithm, _, digest = fragment.partition("=")
    if algorithm and digest and algorithm.lower() in hashlib.algorithms_guaranteed:
        return bare, {algorithm.lower(): digest.lower()}
    return bare, {}


def _metadata_attr(value: object) -> dict[str, str] | None:
    """A PEP 658/714 core-metadata value (JSON: bool or hashes; HTML: "true" or algo=hex)."""
    if value is None or value is False:
        return None
    if isinstance(value, dict):
        return {str(k).lower(): str(v).lower() for k, v in value.items()}
    if isinstance(value, str) and "=" in value:
        algorithm, _, digest = value.partition("=")
        return {algorithm.lower(): digest.lower()}
    return {} if value in (True, "true", "") else None


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_json_page(body: bytes, page_url: str) -> list[UpstreamFile]:
    try:
        document = json.loads(body)
        entries = document["files"]
        files = []
        for entry in entries:
            url, fragment_hashes = _hash_fragment(urljoin(page_url, entry["url"]))
            hashes = {str(k).lower(): str(v).lower() for k, v in entry.get("hashes", {}).items()}
            yanked = entry.get("yanked", False)
            metadata = entry.get("core-metadata", entry.get("dist-info-metadata"))
            files.append(UpstreamFile(
                filename=str(entry["filename"]), url=url, hashes=hashes or fragment_hashes,
                requires_python=entry.get("requires-python") or None, yanked=bool(yanked),
                yanked_reason=yanked if isinstance(yanked, str) and yanked else None,
                upload_time=_time(entry.get("upload-time")),
                size=entry["size"] if isinstance(entry.get("size"), int) else None,
                metadata_hashes=_metadata_attr(metadata),
            ))  # fmt: skip
        return files
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise UpstreamError(f"the upstream's JSON page is malformed ({error})") from None


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self._current: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._current, self._text = dict(attrs), []

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._current is not None:
            self.anchors.append((self._current, "".join(self._text).strip()))
            self._current = None


def parse_html_page(body: bytes, page_url: str) -> list[UpstreamFile]:
    parser = _Anchors()
    parser.feed(body.decode("utf-8", "replace"))
    files = []
    for attrs, text in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        url, hashes = _hash_fragment(urljoin(page_url, href))
        filename = text or url.rsplit("/", 1)[-1]
        yanked = attrs.get("data-yanked")
        metadata = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
        files.append(UpstreamFile(
            filename=filename, url=url, hashes=hashes,
            requires_python=attrs.get("data-requires-python") or None,
            yanked=yanked is not None, yanked_reason=yanked or None,
            metadata_hashes=_metadata_attr(metadata if "data-core-metadata" in attrs
                                           or "data-dist-info-metadata" in attrs else None),
        ))  # fmt: skip
    return files


class UpstreamClient:
    """HTTP to the upstreams, bounded by ``timeout`` (connect, each read, and the whole)."""

    def __init__(self, timeout: float) -> None:
        # Imported here: a server without an upstream never loads requests (small workers).
        import requests

        self._errors = requests.RequestException
        self.timeout = timeout
        self.watchdog = Watchdog()
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"pubkit/{__version__}"
        adapter = watched_adapter(pool_connections=8, pool_maxsize=32)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def _get(
        self, url: str, headers: dict[str, str], source: str | None = None
    ) -> requests.Response:
        """GET ``url``; the credentials of ``source`` (an upstream URL with user:password)
        go along when ``url`` is on the same origin, never elsewhere."""
        auth = None
        if source is not None and same_origin(url, source):
            parts = urlsplit(source)
            if parts.username is not None:
                auth = (unquote(parts.username), unquote(parts.password or ""))
        try:
            return self.session.get(url, headers=headers, stream=True, allow_redirects=True,
                                    auth=auth,
                                    timeout=(min(self.timeout, 5.0), self.timeout))  # fmt: skip
        except self._errors as error:
            raise UpstreamError(
                f"the upstream {shown(url)} did not answer ({type(error).__name__})"
            ) from None

    @contextmanager
    def _watched(self, url: str, seconds: float, bound: str) -> Iterator[Call]:
        """The calls made inside, cut off by the watchdog after ``seconds`` (the call may
        extend them); ``bound``: what the error says was too slow."""
        with self.watchdog.watch(seconds) as call:
            try:
                yield call
            except UpstreamError:
                if call.expired:
                    raise self._too_slow(url, bound) from None
                raise
            if call.expired:  # a body without a length just ends when cut off
                raise self._too_slow(url, bound)

    @staticmethod
    def _too_slow(url: str, bound: str) -> UpstreamError:
        return UpstreamError(f"the upstream {shown(url)} sends too slowly ({bound})")

    def _chunks(
        self, response: requests.Response, url: str, limit: int, call: Call
    ) -> Iterator[bytes]:
        """The body, within ``limit`` bytes (and ``call``'s deadline)."""
        received = 0
        try:
            for chunk in response.iter_content(CHUNK):
                received += len(chunk)
                if received > limit:
                    raise UpstreamError(f"the upstream's answer for {shown(url)} is"
                                        f" larger than {limit} bytes")  # fmt: skip
                if call.expired:
                    raise UpstreamError(f"the upstream {shown(url)} was cut off")
                yield chunk
        except self._errors as error:
            raise UpstreamError(
                f"the upstream {shown(url)} broke off ({type(error).__name__})"
            ) from None
        finally:
            response.close()

    def page(
        self, source: str, project: str, etag: str | None = None,
        last_modified: str | None = None,
    ) -> PageAnswer:  # fmt: skip
        """The page of ``project`` on the upstream ``source`` (its simple URL)."""
        url = urljoin(source, quote(project) + "/")
        headers = {"Accept": ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        seconds = self.timeout * 3
        with self._watched(url, seconds, f"its answer took over {seconds:g} s") as call:
            response = self._get(url, headers, source)
            answer = PageAnswer(source, etag=response.headers.get("etag"),
                                last_modified=response.headers.get("last-modified"))  # fmt: skip
            if response.status_code == 304:
                response.close()
                answer.etag, answer.last_modified = answer.etag or etag, (
                    answer.last_modified or last_modified)  # fmt: skip
                return answer
            if response.status_code in (404, 410):
                response.close()
                answer.missing = True
                return answer
            if response.status_code != 200:
                response.close()
                raise UpstreamError(f"the upstream {shown(url)} answered"
                                    f" {response.status_code}")  # fmt: skip
            body = b"".join(self._chunks(response, url, MAX_PAGE, call))
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        page_url = public(response.url or url)
        if content_type.endswith("+json") or content_type == "application/json":
            answer.files = parse_json_page(body, page_url)
        else:
            answer.files = parse_html_page(body, page_url)
        return answer

    def probe(self, source: str) -> str | None:
        """None when the upstream's simple URL ``source`` answers (below 500), else the
        problem in one line; its headers within three timeouts."""
        seconds = self.timeout * 3
        try:
            with self._watched(source, seconds, f"its headers took over {seconds:g} s"):
                response = self._get(source, {"Accept": ACCEPT}, source)
                response.close()
        except UpstreamError as error:
            return error.message
        if response.status_code >= 500:
            return f"the upstream {shown(source)} answered {response.status_code}"
        return None

    def download(self, url: str, target: Path, limit: int, source: str) -> dict[str, str]:
        """Write the file at ``url`` (of upstream ``source``) to ``target``; its digests
        (every checked algorithm). Its headers within three timeouts; then its body at
        ``MIN_RATE`` on average, after a grace period: the deadline moves with each chunk."""
        seconds = self.timeout * 3
        grace = max(seconds, CHUNK / MIN_RATE)
        bound = (f"headers over {seconds:g} s, or under {MIN_RATE // 1024} KiB/s"
                 f" after {grace:g} s")  # fmt: skip
        digests = {name: hashlib.new(name) for name in CHECKED_HASHES}
        with self._watched(url, seconds, bound) as call:
            response = self._get(url, {}, source)
            if response.status_code != 200:
                response.close()
                raise UpstreamError(f"the upstream answered {response.status_code} for"
                                    f" {shown(url)}")  # fmt: skip
            started, received = time.monotonic(), 0
            call.extend(started + grace)
            with target.open("wb") as out:
                for chunk in self._chunks(response, url, limit, call):
                    received += len(chunk)
                    call.extend(started + grace + received / MIN_RATE)
                    out.write(chunk)
                    for digest in digests.values():
                        digest.update(chunk)
        return {name: digest.hexdigest() for name, digest in digests.items()}

    def close(self) -> None:
        self.session.close()
        self.watchdog.close()


def verify(advertised: dict[str, str], actual: dict[str, str], what: str) -> None:
    """Refuse bytes whose digest differs from one the upstream page advertised."""
    for name in CHECKED_HASHES:
        if name in advertised and advertised[name] != actual[name]:
            raise UpstreamError(
                f"{what} from the upstream does not match the {name} its page advertises;"
                " it was not stored or served"
            )


def shown(url: str) -> str:
    """``url`` as messages show it (to readers too, in a 502): without credentials, and
    without its query, which can hold a signature (a signed download URL)."""
    redacted = redact_url(url)
    parts = urlsplit(redacted)
    return urlunsplit(parts._replace(query="…")) if parts.query else redacted


def public(url: str) -> str:
    """``url`` without credentials: what pages may show and what is stored."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=host))


def same_origin(url: str, source: str) -> bool:
    a, b = urlsplit(url), urlsplit(source)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)
