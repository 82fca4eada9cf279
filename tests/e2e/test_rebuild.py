"""``pubkit index rebuild`` after the catalog is lost: the index comes back as it was."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from pubkit.testing import LiveServer, make_sdist, make_wheel
from tests.conftest import server_backend, unique_bucket_name
from tests.e2e import support
from tests.e2e.support import (
    LogWindow,
    file_path,
    files_by_name,
    output,
    pip_install,
    run,
    start_server,
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
        live = start_server(tmp_path / "data")
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
    # Users live only in the catalog: bring them back before the rebuild, which then gives the
    # ownerless project back to its first uploader.
    for name, password in support.PASSWORDS.items():
        server.add_user(name, password)
    report = _pubkit("index", "rebuild", "--data-dir", server.data_dir)
    assert "3 files in storage: 3 added, 0 updated, 0 removed from the catalog" in report, report
    assert f"owner restored: {PROJECT}: alice" in report, report
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
