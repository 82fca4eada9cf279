"""How long the web interface's pages take at 20,000 projects (not a test; CI does not run it).

Builds an index in a temp dir (20,000 projects written to the catalog directly, one file
each, and a few real uploads), then asks each page repeatedly in-process and prints the
median and 95th percentile of the time the application took (the ASGI call, no network).

    .venv/bin/python bench/ui_pages.py [--projects 20000] [--rounds 50]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import insert, select
from starlette.testclient import TestClient

from pubkit.server import admin
from pubkit.server.app import create_app
from pubkit.server.catalog import schema
from pubkit.settings import load_server_settings
from pubkit.testing import core_metadata, make_wheel

WORDS = ("core", "api", "client", "tools", "models", "data", "web", "cli", "utils", "auth")
PASSWORD = "bench-password-1"  # noqa: S105 - a throwaway index's user


def fill(app: object, projects: int) -> None:
    catalog = app.state.services.catalog  # type: ignore[attr-defined]
    now = datetime.now(timezone.utc)
    with catalog.engine.begin() as conn:
        names = [f"pkg-{i:05d}-{WORDS[i % 10]}" for i in range(projects)]
        rows = [{"name": names[i], "display_name": names[i], "created": now, "last_serial": 0,
                 "private": i % 100 == 0, "summary": f"The {WORDS[(i * 7) % 10]} of team {i % 37}"}
                for i in range(projects)]  # fmt: skip
        conn.execute(insert(schema.projects), rows)
        ids = dict(conn.execute(select(schema.projects.c.name, schema.projects.c.id)).all())
        files = [{"project_id": ids[row["name"]], "filename": f"{row['name']}-1.0.tar.gz",
                  "canonical_filename": f"{row['name'].replace('-', '_')}-1.0.tar.gz",
                  "version": "1.0", "packagetype": "sdist", "size": 1000, "sha256": "0" * 64,
                  "md5": "0" * 32, "blake2_256": "0" * 64, "upload_time": now,
                  "uploader": "root", "yanked": False}
                 for row in rows]  # fmt: skip
        conn.execute(insert(schema.files), files)


async def timed(app: object, path: str, cookie: str) -> float:
    """One request through the ASGI app; the seconds it took."""
    headers = [(b"host", b"bench"), (b"cookie", cookie.encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": path.split("?")[0],
             "raw_path": path.split("?")[0].encode(),
             "query_string": path.partition("?")[2].encode(), "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 1), "server": ("bench", 80)}  # fmt: skip
    status = 0

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])  # type: ignore[call-overload]

    started = time.perf_counter()
    await app(scope, receive, send)  # type: ignore[operator]
    elapsed = time.perf_counter() - started
    assert status == 200, (path, status)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=50)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_server_settings({"data_dir": Path(tmp) / "data"}, environ={})
        app = create_app(settings)
        with TestClient(app) as client:
            fill(app, options.projects)
            catalog = app.state.services.catalog
            admin.add_user(catalog, "root", PASSWORD, is_admin=True)
            for name, requires in (("acme-core", ()), ("acme-api", ("acme-core",))):
                wheel = make_wheel(Path(tmp) / "d", name, "1.0", requires,
                                   metadata=core_metadata(name, "1.0", requires))  # fmt: skip
                answer = client.post("/", auth=("root", PASSWORD), files={
                    "content": (wheel.name, wheel.read_bytes(), "application/octet-stream")},
                    data={":action": "file_upload", "name": name, "version": "1.0",
                          "sha256_digest": hashlib.sha256(wheel.read_bytes()).hexdigest()})
                assert answer.status_code == 200, answer.text
            signin = client.get("/ui/signin").text
            csrf = signin.split('name="csrf" value="')[1].split('"')[0]
            client.post("/ui/signin", data={"csrf": csrf, "name": "root", "password": PASSWORD},
                        follow_redirects=False)  # fmt: skip
            cookie = f"pubkit_session={client.cookies['pubkit_session']}"
            pages = ["/ui/", "/ui/?q=tools", "/ui/?q=team+3", "/ui/?q=pkg-1999",
                     "/ui/?q=nothing-matches", "/ui/?page=200", "/ui/project/acme-core/",
                     "/ui/project/acme-api/", "/ui/admin/audit"]  # fmt: skip
            print(f"{options.projects} projects, {options.rounds} rounds, signed in as an admin")
            print("| page | median ms | p95 ms |\n| --- | --- | --- |")
            for path in pages:
                for who in ("", cookie):
                    if path.startswith("/ui/admin") and not who:
                        continue
                    times = [asyncio.run(timed(app, path, who)) for _ in range(options.rounds)]
                    times.sort()
                    p95 = times[int(len(times) * 0.95) - 1]
                    label = f"{path} ({'admin' if who else 'anonymous'})"
                    print(f"| {label} | {statistics.median(times) * 1000:.1f} |"
                          f" {p95 * 1000:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
