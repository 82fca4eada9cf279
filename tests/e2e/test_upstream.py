"""One index URL for everything: pubkit in front of an upstream index (a second pubkit, or a
static PEP 691 index), driven by pip and uv with only pubkit's URL.

- internal and public packages install together; with the upstream stopped, again from the
  cache; with the upstream paused (SIGSTOP), pubkit still answers within its bounds;
- dependency confusion: the upstream's acme-core 99.0 never reaches pip or uv, which get the
  local 1.2; a reserved name and an internal pattern are never asked upstream;
- quarantine: a file the upstream dates yesterday is not offered with --upstream-min-age 3d,
  and is after the project's override.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pubkit.testing import LiveServer, make_wheel
from tests.e2e.support import (
    Venv,
    VenvFactory,
    access_log,
    client_env,
    output,
    pip_install,
    run,
    start_server,
    sync_access_log,
    twine_upload,
    uv_pip_install,
)
from tests.upstream_support import StaticIndex, static_index, yesterday

pytestmark = pytest.mark.e2e
TIMEOUT = 2.0  # --upstream-timeout of the servers here
# How long pubkit may take with a paused upstream: a page waits at most the timeout (plus a
# second), and the client below gives it that and a margin for a busy machine.
BOUND = TIMEOUT + 1.0 + 10.0


def pubkit_cli(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "pubkit", *args, "--data-dir", str(server.data_dir)])


def start_with_upstream(data_dir: Path, upstream: str, *extra: str) -> LiveServer:
    return start_server(data_dir, "--upstream", upstream, "--upstream-timeout", str(TIMEOUT),
                        *extra)  # fmt: skip


@pytest.fixture(scope="module")
def public_wheels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """What the upstream holds: real wheels of public projects, and the confusing ones."""
    where = tmp_path_factory.mktemp("public")
    return [
        make_wheel(where, "public-dep", "1.0"),
        make_wheel(where, "public-dep", "2.0", requires=["public-leaf>=1"]),
        make_wheel(where, "public-leaf", "1.5"),
        make_wheel(where, "acme-core", "99.0"),
        make_wheel(where, "acme-secret-tool", "99.0"),
        make_wheel(where, "reserved-thing", "99.0"),
    ]


@pytest.fixture(scope="module")
def upstream(
    tmp_path_factory: pytest.TempPathFactory, public_wheels: list[Path]
) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("upstream") / "data")
    try:
        uploaded = twine_upload(server, public_wheels, "alice")
        assert uploaded.returncode == 0, output(uploaded)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def internal_wheels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    where = tmp_path_factory.mktemp("internal")
    return [
        make_wheel(where, "acme-core", "1.2"),
        make_wheel(where, "acme-app", "1.0", requires=["acme-core>=1", "public-dep"]),
    ]


def serve_internal(data_dir: Path, upstream: LiveServer, wheels: list[Path],
                   *extra: str) -> LiveServer:  # fmt: skip
    server = start_with_upstream(data_dir, upstream.simple_url,
                                 "--internal-names", "acme-secret-*", *extra)  # fmt: skip
    uploaded = twine_upload(server, wheels, "alice")
    assert uploaded.returncode == 0, output(uploaded)
    reserved = pubkit_cli(server, "project", "reserve", "reserved-thing")
    assert reserved.returncode == 0, output(reserved)
    return server


@pytest.fixture
def internal(
    tmp_path: Path, upstream: LiveServer, internal_wheels: list[Path]
) -> Iterator[LiveServer]:
    server = serve_internal(tmp_path / "internal", upstream, internal_wheels,
                            "--upstream-ttl", "0")  # fmt: skip
    try:
        yield server
    finally:
        server.stop()


def poetry_lock(server: LiveServer, where: Path, requirement: str
                ) -> tuple[subprocess.CompletedProcess[str], str]:  # fmt: skip
    """``poetry lock`` of a project needing ``requirement``, with pubkit as its only source
    (priority primary: no implicit PyPI); the lock file's text ("" without one)."""
    where.mkdir(parents=True)
    (where / "pyproject.toml").write_text(
        '[project]\nname = "consumer"\nversion = "0"\nrequires-python = ">=3.10"\n'
        f"dependencies = [{requirement!r}]\n"
        "[tool.poetry]\npackage-mode = false\n"
        f'[[tool.poetry.source]]\nname = "pubkit"\nurl = "{server.simple_url}"\n'
        'priority = "primary"\n'
    )
    poetry = Path(sys.executable).with_name("poetry")
    result = subprocess.run(
        [str(poetry), "lock", "--no-interaction"], cwd=where, capture_output=True, text=True,
        timeout=300, check=False,
        env={**client_env(), "POETRY_CONFIG_DIR": str(where / ".config"),
             "POETRY_CACHE_DIR": str(where / ".cache"), "POETRY_VIRTUALENVS_CREATE": "false"},
    )  # fmt: skip
    lock = where / "poetry.lock"
    return result, lock.read_text() if lock.exists() else ""


def upstream_asked(upstream: LiveServer, name: str) -> bool:
    sync_access_log(upstream)
    return any(hit.path.startswith(f"/simple/{name}/") for hit in access_log(upstream))


def test_pip_uv_and_poetry_get_internal_and_public_and_never_the_upstreams_acme_core(
    internal: LiveServer, upstream: LiveServer, make_venv: VenvFactory, tmp_path: Path
) -> None:
    expected = {"acme-app": "1.0", "acme-core": "1.2", "public-dep": "2.0", "public-leaf": "1.5"}
    venv = make_venv()
    installed = pip_install(venv, internal, "acme-app")
    assert installed.returncode == 0, output(installed)
    assert venv.installed() == expected
    venv = make_venv()
    installed = uv_pip_install(venv, internal, "acme-app")
    assert installed.returncode == 0, output(installed)
    assert venv.installed() == expected
    # Asked for the confusing name directly, with the highest version it could find.
    for install in (pip_install, uv_pip_install):
        venv = make_venv()
        installed = install(venv, internal, "acme-core>=2")
        assert installed.returncode != 0, output(installed)
        assert "99.0" not in installed.stdout + installed.stderr
    locked, lock = poetry_lock(internal, tmp_path / "poetry", "acme-core")
    assert locked.returncode == 0, output(locked)
    assert 'name = "acme-core"\nversion = "1.2"' in lock
    failed, _ = poetry_lock(internal, tmp_path / "poetry-99", "acme-core>=2")
    assert failed.returncode != 0 and "99.0" not in failed.stdout + failed.stderr
    page = requests.get(internal.simple_url + "acme-core/", timeout=30).text
    assert "99.0" not in page
    assert not upstream_asked(upstream, "acme-core")


@pytest.mark.parametrize("name", ["reserved-thing", "acme-secret-tool"])
def test_a_reserved_name_and_an_internal_pattern_never_reach_the_upstream(
    internal: LiveServer, upstream: LiveServer, make_venv: VenvFactory, name: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    for install in (pip_install, uv_pip_install):
        venv = make_venv()
        installed = install(venv, internal, name)
        assert installed.returncode != 0, output(installed)
        assert venv.installed() == {}
    locked, lock = poetry_lock(internal, tmp_path / "poetry", name)
    assert locked.returncode != 0 and lock == "", output(locked)
    assert requests.get(internal.simple_url + name + "/", timeout=30).status_code == 404
    assert not upstream_asked(upstream, name)


def test_tracking_is_an_explicit_opt_in(internal: LiveServer, upstream: LiveServer) -> None:
    tracked = pubkit_cli(internal, "project", "track", "acme-core", "--upstream")
    assert tracked.returncode == 0, output(tracked)
    page = requests.get(internal.simple_url + "acme-core/", timeout=30).text
    assert "acme_core-1.2-py3-none-any.whl" in page and "acme_core-99.0" in page
    assert f'<meta name="pypi:tracks" content="{upstream.simple_url}acme-core/">' in page
    audit = pubkit_cli(internal, "audit")
    assert "track upstream" in audit.stdout, output(audit)


def test_with_the_upstream_stopped_or_paused(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, public_wheels: list[Path],
    internal_wheels: list[Path], make_venv: VenvFactory,
) -> None:  # fmt: skip
    own_upstream = start_server(tmp_path / "upstream")
    uploaded = twine_upload(own_upstream, public_wheels, "alice")
    assert uploaded.returncode == 0, output(uploaded)
    server = serve_internal(tmp_path / "internal", own_upstream, internal_wheels,
                            "--upstream-ttl", "0")  # fmt: skip
    try:
        first = make_venv()
        assert pip_install(first, server, "acme-app").returncode == 0
        # Paused: every page pubkit has is served, stale, within its bound; one it never
        # had is a one-line 502 within the same bound; /health does not wait at all.
        assert own_upstream.process is not None
        os.kill(own_upstream.process.pid, signal.SIGSTOP)
        try:
            response = requests.get(server.simple_url + "public-dep/", timeout=BOUND)
            assert response.status_code == 200
            assert "did not answer" in response.headers["x-pubkit-upstream-stale"]
            missing = requests.get(server.simple_url + "never-fetched/", timeout=BOUND)
            assert missing.status_code == 502 and missing.text.count("\n") == 1
            assert requests.get(server.url + "health", timeout=BOUND).status_code == 200
            paused = make_venv()
            installed = uv_pip_install(paused, server, "acme-app")
            assert installed.returncode == 0, output(installed)
        finally:
            os.kill(own_upstream.process.pid, signal.SIGCONT)
        own_upstream.stop()
        for install in (pip_install, uv_pip_install):
            venv = make_venv()
            installed = install(venv, server, "acme-app")
            assert installed.returncode == 0, output(installed)
            assert venv.installed()["public-dep"] == "2.0"
        # A restarted pubkit still has the pages (in storage) and files.
        server.stop()
        server.start()
        venv = make_venv()
        installed = pip_install(venv, server, "acme-app")
        assert installed.returncode == 0, output(installed)
    finally:
        server.stop()
        own_upstream.stop()


@pytest.fixture
def dated_upstream(tmp_path: Path) -> Iterator[StaticIndex]:
    with static_index() as index:
        index.add(make_wheel(tmp_path / "up", "fresh-lib", "1.0"),
                  upload_time=yesterday().replace(year=2020))  # fmt: skip
        index.add(make_wheel(tmp_path / "up", "fresh-lib", "2.0"), upload_time=yesterday())
        yield index


def test_quarantine_with_pip_and_uv(
    tmp_path: Path, dated_upstream: StaticIndex, make_venv: VenvFactory
) -> None:
    server = start_with_upstream(tmp_path / "data", dated_upstream.simple_url,
                                 "--upstream-min-age", "3d", "--upstream-ttl", "0")  # fmt: skip
    try:
        for install in (pip_install, uv_pip_install):
            venv: Venv = make_venv()
            assert install(venv, server, "fresh-lib").returncode == 0
            assert venv.installed() == {"fresh-lib": "1.0"}
        override = pubkit_cli(server, "project", "upstream-min-age", "fresh-lib", "0")
        assert override.returncode == 0, output(override)
        for install in (pip_install, uv_pip_install):
            venv = make_venv()
            assert install(venv, server, "fresh-lib").returncode == 0
            assert venv.installed() == {"fresh-lib": "2.0"}
    finally:
        server.stop()


