"""A static upstream index for tests: PEP 691 JSON (or PEP 503 HTML) pages and files, served
by a real HTTP server on 127.0.0.1 in a thread; its pages say what the test makes them say
(upload times, yanks, metadata), and it can be made to fail or to stall."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from pubkit.core.distributions import normalize_name

JSON_V1 = "application/vnd.pypi.simple.v1+json"


@dataclass
class StaticFile:
    path: Path
    upload_time: datetime | None = None
    yanked: str | bool = False
    metadata: bytes | None = None
    # Advertise another sha256 than the bytes have (a tampered upstream).
    wrong_sha256: bool = False

    def sha256(self) -> str:
        """What the page advertises."""
        return "0" * 64 if self.wrong_sha256 else hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass
class StaticIndex:
    """Projects -> files; ``html``: answer PEP 503 HTML instead of JSON."""

    projects: dict[str, list[StaticFile]] = field(default_factory=dict)
    html: bool = False
    failing: bool = False
    stall: float = 0.0
    requests: list[str] = field(default_factory=list)
    port: int = 0
    # (user, password) that every request must carry as Basic auth (401 otherwise).
    credentials: tuple[str, str] | None = None
    # The statuses of page requests, with the If-None-Match each carried.
    page_answers: list[tuple[int, str | None]] = field(default_factory=list)

    @property
    def simple_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple/"

    def add(self, path: Path, **options: Any) -> StaticFile:
        name = normalize_name(path.name.split("-")[0])
        file = StaticFile(path, **options)
        self.projects.setdefault(name, []).append(file)
        return file

    def page(self, name: str) -> tuple[bytes, str] | None:
        files = self.projects.get(name)
        if files is None:
            return None
        if self.html:
            anchors = []
            for f in files:
                sha = f.sha256()
                extra = f' data-yanked="{html.escape(str(f.yanked))}"' if f.yanked else ""
                if f.metadata is not None:
                    metadata = hashlib.sha256(f.metadata).hexdigest()
                    extra += f' data-core-metadata="sha256={metadata}"'
                anchors.append(f'<a href="../../files/{f.path.name}#sha256={sha}"{extra}>'
                               f"{f.path.name}</a><br>")  # fmt: skip
            body = f"<html><body>{''.join(anchors)}</body></html>"
            return body.encode(), "text/html"
        entries = []
        for f in files:
            data = f.path.read_bytes()
            entry: dict[str, Any] = {
                "filename": f.path.name,
                "url": f"../../files/{f.path.name}",
                "hashes": {"sha256": f.sha256()},
                "size": len(data),
                "yanked": f.yanked,
            }
            if f.upload_time is not None:
                entry["upload-time"] = f.upload_time.astimezone(timezone.utc).strftime(
                    "%Y-%m-%dT%H:%M:%S.%fZ")  # fmt: skip
            if f.metadata is not None:
                entry["core-metadata"] = {"sha256": hashlib.sha256(f.metadata).hexdigest()}
            entries.append(entry)
        document = {"meta": {"api-version": "1.1"}, "name": name, "files": entries}
        return json.dumps(document).encode(), JSON_V1

    def file(self, filename: str) -> bytes | None:
        for files in self.projects.values():
            for f in files:
                if f.path.name == filename:
                    return f.path.read_bytes()
                if f.metadata is not None and f.path.name + ".metadata" == filename:
                    return f.metadata
        return None


def _handler(index: StaticIndex) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

        def do_GET(self) -> None:
            index.requests.append(self.path)
            if index.credentials is not None:
                pair = ":".join(index.credentials).encode()
                expected = "Basic " + base64.b64encode(pair).decode()
                if self.headers.get("Authorization") != expected:
                    self._send(401, b"credentials needed", "text/plain")
                    return
            if index.stall:
                time.sleep(index.stall)
            if index.failing:
                self._send(500, b"down", "text/plain")
                return
            path = unquote(self.path)
            if path.startswith("/simple/"):
                answer = index.page(normalize_name(path[len("/simple/"):].strip("/")))
                sent_tag = self.headers.get("If-None-Match")
                if answer is None:
                    index.page_answers.append((404, sent_tag))
                    self._send(404, b"not found", "text/plain")
                    return
                etag = '"' + hashlib.sha256(answer[0]).hexdigest()[:16] + '"'
                if sent_tag == etag:
                    index.page_answers.append((304, sent_tag))
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                index.page_answers.append((200, sent_tag))
                self._send(200, *answer, etag=etag)
                return
            if path.startswith("/files/"):
                data = index.file(path[len("/files/"):])
                if data is None:
                    self._send(404, b"not found", "text/plain")
                else:
                    self._send(200, data, "application/octet-stream")
                return
            self._send(404, b"not found", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str,
                  etag: str | None = None) -> None:  # fmt: skip
            self.send_response(status)
            if etag:
                self.send_header("ETag", etag)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # pubkit hanging up (a stalled answer given up on, a page not read to its end) is
        # what several tests do on purpose; reported, it lands in a later test's stderr.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def static_index(index: StaticIndex | None = None) -> Iterator[StaticIndex]:
    index = index or StaticIndex()
    server = _Server(("127.0.0.1", 0), _handler(index))
    server.daemon_threads = True
    index.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield index
    finally:
        server.shutdown()
        server.server_close()


def yesterday() -> datetime:
    return datetime.fromtimestamp(time.time() - 86400, timezone.utc)
