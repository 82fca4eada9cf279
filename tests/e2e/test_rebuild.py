"""``pubkit index rebuild`` after the catalog is lost: the index comes back as it was."""

from __future__ import annotations

import html
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from pubkit.testing import LiveServer, core_metadata, make_sdist, make_wheel
from tests.conftest import server_backend, unique_bucket_name
from tests.e2e import support
from tests.e2e.support import (
    LogWindow,
    file_path,
    files_by_name,
    output,
    pip_install,
    run,
    twine_upload,
)

pytestmark = pytest.mark.e2e


PROJECT = "e2e-rebuilt"


@pytest.fixture(params=["local", "s3-postgres"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    """A server of this test's own, on each backend: the test stops and restarts it."""
    if request.param != "local":
        request.getfixturevalue("moto_s3")
    with server_backend(request.param, unique_bucket_name("e2e-rebuild")):
        # As start_server, with patience for S3 and PostgreSQL on a loaded machine.
        live = LiveServer(tmp_path / "data")
        for name, password in support.PASSWORDS.items():
            live.add_user(name, password)
        live.start(timeout=120)
        try:
            yield live
        finally:
            live.stop()


def lose_catalog(server: LiveServer) -> None:
    """Everything the catalog held is gone: the SQLite files, or PostgreSQL's tables."""
    catalog = os.environ.get("PUBKIT_CATALOG")
    if catalog is None:
        sqlite = server.data_dir / "catalog.sqlite3"
        assert sqlite.is_file()
        for path in server.data_dir.glob("catalog.sqlite3*"):  # with its -wal and -shm files
            path.unlink()
        return
    import psycopg

    with psycopg.connect(catalog, autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")


def _pubkit(*args: str | Path) -> str:
    result = run([sys.executable, "-m", "pubkit", *args])
    assert result.returncode == 0, output(result)
    return result.stdout


def _listing(server: LiveServer) -> dict[str, dict[str, Any]]:
    return files_by_name(server, PROJECT)


def test_rebuild_after_losing_the_catalog(
    server: LiveServer, dists: Path, venv: support.Venv
) -> None:
    files = [
        make_wheel(dists, PROJECT, "1.0"),
        make_sdist(dists, PROJECT, "1.0"),
        make_wheel(dists, PROJECT, "2.0"),
    ]
    uploaded = twine_upload(server, files, "alice")
    assert uploaded.returncode == 0, output(uploaded)
    _pubkit("yank", PROJECT, "2.0", "--reason", "broken", "--data-dir", server.data_dir)
    before = _listing(server)
    assert set(before) == {path.name for path in files}
    assert before[files[2].name]["yanked"] == "broken"

    server.stop()
    lose_catalog(server)
    # Users and roles come back from storage's access snapshot, before the files.
    report = _pubkit("index", "rebuild", "--data-dir", server.data_dir)
    assert "access restored from .access/" in report, report
    assert "3 files in storage: 3 added, 0 updated, 0 removed from the catalog" in report, report
    assert "owner restored" not in report, report
    server.start()

    # Same files, same hashes, sizes, metadata hashes, upload times and yank state.
    assert _listing(server) == before
    simple_index = requests.get(server.simple_url, timeout=10)
    assert simple_index.status_code == 200
    assert f'href="{PROJECT}/"' in simple_index.text

    # The yank still steers installers to 1.0.
    window = LogWindow(server)
    installed = pip_install(venv, server, PROJECT)
    assert installed.returncode == 0, output(installed)
    assert venv.module_version("e2e_rebuilt")[0] == "1.0"
    assert window.statuses("GET", file_path(PROJECT, files[0].name)) == [200], window.describe()

    # Ownership came back with the rebuild: alice may upload, bob may not.
    refused = twine_upload(server, [make_wheel(dists, PROJECT, "3.0")], "bob")
    assert refused.returncode != 0, output(refused)
    assert "403 Forbidden" in refused.stderr + refused.stdout, output(refused)
    accepted = twine_upload(server, [dists / "e2e_rebuilt-3.0-py3-none-any.whl"], "alice")
    assert accepted.returncode == 0, output(accepted)
    assert "e2e_rebuilt-3.0-py3-none-any.whl" in _listing(server)


# -- the web interface's project descriptions come back too ---------------------------------

CORE, APP = "e2e-core", "e2e-app"


def _section(page: str, heading: str) -> list[str]:
    """The project names listed under ``heading`` ("Depends on", "Used by") of a project page."""
    found = re.search(rf"<h3>{heading}</h3>(.*?)</div>", page, re.S)
    assert found is not None, page
    return re.findall(r'<a href="/ui/project/[^"]+/">([^<]+)</a>', found[1])


def _described(server: LiveServer, name: str) -> tuple[str | None, list[str], list[str]]:
    """A project page's summary, "depends on" and "used by", as a browser is served them."""
    answer = requests.get(f"{server.url}ui/project/{name}/", timeout=30)
    assert answer.status_code == 200, answer.text
    summary = re.search(r'<p class="summary">([^<]*)</p>', answer.text)
    if "<h3>Depends on</h3>" not in answer.text:
        return (html.unescape(summary[1]) if summary else None), [], []
    return (html.unescape(summary[1]) if summary else None,
            _section(answer.text, "Depends on"), _section(answer.text, "Used by"))  # fmt: skip


def _searched(server: LiveServer, words: str) -> tuple[int, dict[str, str | None], str]:
    """The admin API's search (total, name -> summary) and the browse page's HTML."""
    answer = requests.get(f"{server.url}api/v1/projects", params={"q": words}, timeout=30,
                          auth=("root", ROOT_PASSWORD))  # fmt: skip
    assert answer.status_code == 200, answer.text
    found = answer.json()
    page = requests.get(f"{server.url}ui/", params={"q": words}, timeout=30)
    assert page.status_code == 200, page.text
    return (found["total"], {p["name"]: p["summary"] for p in found["projects"]},
            html.unescape(page.text))  # fmt: skip


def test_rebuild_restores_summaries_and_the_dependency_graph(
    server: LiveServer, dists: Path
) -> None:
    """Drop the catalog, rebuild: each project's summary (its newest release's, whatever the
    upload order), search by summary words and "depends on" / "used by" are back, through
    the UI's pages and the admin API's search of the real server."""
    server.add_user("root", ROOT_PASSWORD, admin=True)
    meta = {"2.0": "Zebrafish telemetry core", "1.0": "Obsolete quokka library"}
    # The newest version first: the older upload after it must not describe the project.
    wheels = [make_wheel(dists, CORE, version, metadata=core_metadata(CORE, version,
                                                                      summary=summary))
              for version, summary in meta.items()]  # fmt: skip
    wheels.append(make_wheel(dists, APP, "1.0", metadata=core_metadata(
        APP, "1.0", requires=[f"{CORE.upper().replace('-', '_')}>=1", "requests; extra == 'x'"],
        summary="Dashboard for telemetry")))  # fmt: skip
    uploaded = twine_upload(server, wheels, "alice")
    assert uploaded.returncode == 0, output(uploaded)

    def observed() -> dict[str, Any]:
        return {
            "core": _described(server, CORE), "app": _described(server, APP),
            "zebrafish": _searched(server, "zebrafish TELEMETRY")[:2],
            "telemetry": _searched(server, "telemetry")[:2],
            "quokka": _searched(server, "quokka")[:2],
        }  # fmt: skip

    before = observed()
    assert before["core"] == ("Zebrafish telemetry core", [], [APP])
    assert before["app"] == ("Dashboard for telemetry", [CORE], [])
    assert before["zebrafish"] == (1, {CORE: "Zebrafish telemetry core"})
    assert before["telemetry"][0] == 2
    assert before["quokka"] == (0, {})

    server.stop()
    lose_catalog(server)
    report = _pubkit("index", "rebuild", "--data-dir", server.data_dir)
    assert "3 files in storage: 3 added" in report, report
    assert "2 projects' summaries and requirements restored" in report, report
    server.start(timeout=120)

    assert observed() == before
    _total, _found, page = _searched(server, "zebrafish telemetry")
    assert "Zebrafish telemetry core" in page and f'href="/ui/project/{CORE}/"' in page
    # A second rebuild finds them as they should be: nothing to restore.
    again = _pubkit("index", "rebuild", "--data-dir", server.data_dir)
    assert "summaries and requirements restored" not in again, again


# -- finding 4: the access state is in storage too ------------------------------------------

SECRET = "e2e-secret"
ROOT_PASSWORD = "root-e2e-password"
CAROL_PASSWORD = "carol-e2e-password"


def _api(server: LiveServer, method: str, path: str, auth: Any, **body: Any) -> Any:
    answer = requests.request(method, f"{server.url}api/v1{path}", auth=auth, timeout=30,
                              json=body if body else None)  # fmt: skip
    assert answer.status_code < 300, (method, path, answer.status_code, answer.text)
    return answer.json() if answer.content else None


def _without_last_use(document: dict[str, Any]) -> dict[str, Any]:
    # When a token was last used is telemetry, recorded without a snapshot.
    tokens = [{**token, "last_used": None} for token in document["tokens"]]
    return {**document, "tokens": tokens}


def test_finding_4_rebuild_restores_users_roles_private_flags_tokens_and_yanks(
    server: LiveServer, dists: Path, venv: support.Venv, tmp_path: Path
) -> None:
    """Drop the catalog, rebuild from storage alone: every access fact comes back, and a
    private project is as hidden as before, through real clients."""
    server.add_user("root", ROOT_PASSWORD, admin=True)
    server.add_user("carol", CAROL_PASSWORD)
    root = ("root", ROOT_PASSWORD)
    wheels = [make_wheel(dists, SECRET, "1.0"), make_wheel(dists, SECRET, "2.0")]
    uploaded = twine_upload(server, wheels, "alice")
    assert uploaded.returncode == 0, output(uploaded)
    _api(server, "PUT", f"/projects/{SECRET}/visibility", root, private=True)
    _api(server, "PUT", f"/projects/{SECRET}/roles/bob", root, role="reader")
    _api(server, "POST", "/groups", root, name="devs")
    _api(server, "PUT", "/groups/devs/members/carol", root)
    _api(server, "PUT", f"/projects/{SECRET}/roles/@devs", root, role="maintainer")
    _api(server, "DELETE", "/groups/devs/members/carol", root)  # carol: a stranger again
    kept = _api(server, "POST", "/tokens", root, user="alice", projects=[SECRET])
    revoked = _api(server, "POST", "/tokens", root, user="alice", permission="read")
    _api(server, "DELETE", f"/tokens/{revoked['token']['id']}", root)
    _api(server, "POST", f"/projects/{SECRET}/releases/2.0/yank", root, reason="broken build")
    before_file = tmp_path / "before.json"
    _pubkit("index", "export", before_file, "--data-dir", server.data_dir)

    server.stop()
    lose_catalog(server)
    report = _pubkit("index", "rebuild", "--data-dir", server.data_dir)
    assert "access restored from .access/" in report, report
    assert "2 files in storage: 2 added" in report, report
    after_file = tmp_path / "after.json"
    _pubkit("index", "export", after_file, "--data-dir", server.data_dir)
    before, after = (json.loads(path.read_text()) for path in (before_file, after_file))
    assert _without_last_use(after) == _without_last_use(before)
    server.start(timeout=120)  # generous: S3 and PostgreSQL on a loaded machine

    # Anonymous: 401, a signed-in stranger: the very answer a missing project gets.
    assert requests.get(f"{server.simple_url}{SECRET}/", timeout=10).status_code == 401
    carol = ("carol", CAROL_PASSWORD)
    hidden = requests.get(f"{server.simple_url}{SECRET}/", auth=carol, timeout=10)
    missing = requests.get(f"{server.simple_url}nosuch/", auth=carol, timeout=10)
    assert (hidden.status_code, hidden.text.replace(SECRET, "nosuch")) == (
        missing.status_code, missing.text)
    assert hidden.status_code == 404
    # The reader installs with pip; the yank still steers it to 1.0.
    url = server.simple_url.replace("http://", f"http://bob:{support.PASSWORDS['bob']}@")
    installed = support.pip("install", "--index-url", url, SECRET, python=venv.python)
    assert installed.returncode == 0, output(installed)
    assert venv.module_version("e2e_secret")[0] == "1.0"
    listed = requests.get(f"{server.simple_url}{SECRET}/", auth=("bob", support.PASSWORDS["bob"]),
                          headers={"Accept": support.JSON_V1}, timeout=10).json()  # fmt: skip
    yanks = {entry["filename"]: entry["yanked"] for entry in listed["files"]}
    assert yanks == {wheels[0].name: False, wheels[1].name: "broken build"}
    # The kept token still uploads (twine); the revoked one stays revoked.
    third = make_wheel(dists, SECRET, "3.0")
    with_token = twine_upload(server, [third], "__token__", kept["secret"])
    assert with_token.returncode == 0, output(with_token)
    refused = requests.get(f"{server.simple_url}{SECRET}/", timeout=10,
                           headers={"Authorization": f"Bearer {revoked['secret']}"})  # fmt: skip
    assert refused.status_code == 401, refused.text
    # Roles, as the admin API shows them.
    info = _api(server, "GET", f"/projects/{SECRET}", root)
    assert info["private"] is True
    assert {(r["holder"], r["role"]) for r in info["roles"]} == {
        ("alice", "owner"), ("bob", "reader"), ("@devs", "maintainer")}
