"""How long the web interface's pages take at 20,000 projects (not a test; CI does not run it).

Builds an index in a temp dir (20,000 projects written to the catalog directly, one file
each, and a few real uploads), then asks each page repeatedly in-process and prints the
median and 95th percentile of the time the application took (the ASGI call, no network).

    .venv/bin/python bench/ui_pages.py [--projects 20000] [--rounds 50] [--postgres]
    .venv/bin/python bench/ui_pages.py --compare before=/tmp/main-pubkit after=.

``--postgres`` puts the catalog in a new database on the local PostgreSQL server
(``--postgres-url``, trust auth; dropped afterwards). ``--compare NAME=SOURCE`` runs the
``pubkit`` package found in each SOURCE directory (e.g. ``git archive REV pubkit | tar -x``)
in its own process with its own index, and takes each page's samples from them in turn
(A B, then B A, ...), so that whatever else runs on the machine weighs on them alike. The
machine's load average is printed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

WORDS = ("core", "api", "client", "tools", "models", "data", "web", "cli", "utils", "auth")
PASSWORD = "bench-password-1"  # noqa: S105 - a throwaway index's user
PAGES = ["/ui/", "/ui/?q=tools", "/ui/?q=team+3", "/ui/?q=pkg-1999", "/ui/?q=nothing-matches",
         "/ui/?page=200", "/ui/project/acme-core/", "/ui/project/acme-api/", "/ui/admin/audit"]
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def fill(app: Any, projects: int) -> None:
    from sqlalchemy import insert, select

    from pubkit.server.catalog import schema

    catalog = app.state.services.catalog
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
    if not catalog.is_sqlite:
        with catalog.engine.connect() as conn:
            conn.exec_driver_sql("COMMIT")
            conn.exec_driver_sql("ANALYZE")  # as autovacuum would soon after such a load


async def timed(app: Any, path: str, cookie: str) -> float:
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
    await app(scope, receive, send)
    elapsed = time.perf_counter() - started
    assert status == 200, (path, status)
    return elapsed


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    import psycopg

    name = f"pubkit_ui_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def bench_index(options: argparse.Namespace) -> Iterator[tuple[Any, str]]:
    """The app over a filled index, and an administrator's session cookie."""
    from starlette.testclient import TestClient

    from pubkit.server import admin
    from pubkit.server.app import create_app
    from pubkit.settings import load_server_settings
    from pubkit.testing import core_metadata, make_wheel

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        values: dict[str, Any] = {"data_dir": Path(tmp) / "data"}
        if options.postgres:
            values["catalog"] = stack.enter_context(postgres_database(options.postgres_url))
        app = create_app(load_server_settings(values, environ={}))
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
            yield app, f"pubkit_session={client.cookies['pubkit_session']}"


def samples(app: Any, path: str, cookie: str, count: int) -> list[float]:
    return [asyncio.run(timed(app, path, cookie)) for _ in range(count)]


def cases() -> list[tuple[str, str]]:
    """(page, who): each page anonymously and as an administrator (admin pages: only so)."""
    return [(path, who) for path in PAGES for who in ("anonymous", "admin")
            if who == "admin" or not path.startswith("/ui/admin")]  # fmt: skip


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} CPUs)"


def run_alone(options: argparse.Namespace) -> None:
    print(load())
    with bench_index(options) as (app, cookie):
        print(f"{options.projects} projects, {options.rounds} rounds,"
              f" {'PostgreSQL' if options.postgres else 'SQLite'} catalog")  # fmt: skip
        print("| page | median ms | p95 ms |\n| --- | --- | --- |")
        for path, who in cases():
            for _ in range(3):  # warm-up
                asyncio.run(timed(app, path, cookie if who == "admin" else ""))
            times = sorted(samples(app, path, cookie if who == "admin" else "", options.rounds))
            p95 = times[int(len(times) * 0.95) - 1]
            print(f"| {path} ({who}) | {statistics.median(times) * 1000:.1f} |"
                  f" {p95 * 1000:.1f} |")  # fmt: skip
    print(load())


def follow(options: argparse.Namespace) -> None:
    """Driven by --compare: "INDEX COUNT" per line read, the seconds of each request back."""
    with bench_index(options) as (app, cookie):
        print("ready", flush=True)
        table = cases()
        for line in sys.stdin:
            index, count = (int(part) for part in line.split())
            path, who = table[index]
            times = samples(app, path, cookie if who == "admin" else "", count)
            print(" ".join(f"{value:.6f}" for value in times), flush=True)


def compare(options: argparse.Namespace) -> None:
    names, procs = [], []
    print(load())
    for spec in options.compare:
        name, _, source = spec.partition("=")
        argv = [sys.executable, os.path.abspath(__file__), "--follow", "--source",
                os.path.abspath(source or "."), "--projects", str(options.projects)]
        if options.postgres:
            argv += ["--postgres", "--postgres-url", options.postgres_url]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        while (line := proc.stdout.readline()) and line.strip() != "ready":
            pass
        if not line:
            raise SystemExit(f"{name}: the bench process ended before it was ready")
        names.append(name)
        procs.append(proc)
    chunk = 5
    print(f"{options.projects} projects, {options.rounds} rounds per page in turns of {chunk},"
          f" {'PostgreSQL' if options.postgres else 'SQLite'} catalog; median (p95) ms")
    print("| page | " + " | ".join(names) + " |\n| --- |" + " --- |" * len(names))
    try:
        for index, (path, who) in enumerate(cases()):
            found: dict[str, list[float]] = {name: [] for name in names}
            order = list(zip(names, procs, strict=True))
            for turn in range(-(-(options.rounds + chunk) // chunk)):  # the first: warm-up
                for name, proc in order if turn % 2 == 0 else reversed(order):
                    assert proc.stdin is not None and proc.stdout is not None
                    proc.stdin.write(f"{index} {chunk}\n")
                    proc.stdin.flush()
                    times = [float(value) for value in proc.stdout.readline().split()]
                    if turn:
                        found[name].extend(times)
            cells = []
            for name in names:
                times = sorted(found[name])
                p95 = times[int(len(times) * 0.95) - 1]
                cells.append(f"{statistics.median(times) * 1000:.1f} ({p95 * 1000:.1f})")
            print(f"| {path} ({who}) | " + " | ".join(cells) + " |", flush=True)
    finally:
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait()
    print(load())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--postgres", action="store_true",
                        help="the catalog in a new database on the local PostgreSQL server")
    parser.add_argument("--postgres-url", default=POSTGRES_URL,
                        help="where to create (and drop) that database")
    parser.add_argument("--source", help="a directory holding the pubkit package to run")
    parser.add_argument("--compare", nargs="+", metavar="NAME=SOURCE",
                        help="time each source's pages in turn, in processes of their own")
    parser.add_argument("--follow", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.source:
        sys.path.insert(0, os.path.abspath(options.source))
    if options.compare:
        compare(options)
    elif options.follow:
        follow(options)
    else:
        run_alone(options)


if __name__ == "__main__":
    main()
