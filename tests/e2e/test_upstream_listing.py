"""`pubkit serve --upstream-list-cached` with two workers before a real upstream: /simple/
lists, in HTML and JSON, the upstream projects whose pages either worker cached (storage is
shared), beside the local ones and never a guarded name; pip installs what it lists. Plain
HTTP, pip and uv, each a real process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pubkit.testing import LiveServer, make_wheel
from tests.e2e.support import (
    PASSWORDS,
    VenvFactory,
    output,
    pip_install,
    twine_upload,
    uv_pip_install,
)
from tests.upstream_support import StaticIndex, static_index

pytestmark = pytest.mark.e2e

JSON = {"Accept": "application/vnd.pypi.simple.v1+json", "Connection": "close"}
# The background scan runs at most every 5 s; a bound for a busy machine.
LISTED_WITHIN = 30.0


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaticIndex]:
    where = tmp_path_factory.mktemp("upstream-wheels")
    with static_index() as index:
        for name in ("listed-lib", "acme-core", "acme-secret"):
            index.add(make_wheel(where, name, "9.0"))
        yield index


def serve(data_dir: Path, upstream: StaticIndex, *extra: str) -> LiveServer:
    options = ("--workers", "2", "--upstream", upstream.simple_url,
               "--internal-names", "acme-secret*", *extra)  # fmt: skip
    live = LiveServer(data_dir, extra_args=options)
    for name, password in PASSWORDS.items():
        live.add_user(name, password)
    return live.start(timeout=120)


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, upstream: StaticIndex
) -> Iterator[LiveServer]:
    live = serve(tmp_path_factory.mktemp("listing") / "data", upstream, "--upstream-list-cached")
    try:
        wheel = make_wheel(tmp_path_factory.mktemp("local"), "acme-core", "1.0")
        uploaded = twine_upload(live, [wheel], "alice")
        assert uploaded.returncode == 0, output(uploaded)
        yield live
    finally:
        live.stop()


def names(server: LiveServer) -> list[str]:
    answer = requests.get(server.simple_url, headers=JSON, timeout=30)
    assert answer.status_code == 200, answer.text
    return [p["name"] for p in answer.json()["projects"]]


def test_both_workers_list_what_either_cached(server: LiveServer) -> None:
    # Cached by whichever worker answers; the guarded names are asked for too.
    for name in ("listed-lib", "acme-core", "acme-secret"):
        requests.get(f"{server.simple_url}{name}/", headers=JSON, timeout=30)
    deadline = time.monotonic() + LISTED_WITHIN
    seen: list[list[str]] = []
    while time.monotonic() < deadline:
        seen.append(names(server))  # a new connection each: both workers answer some
        if len(seen) >= 10 and all("listed-lib" in n for n in seen[-10:]):
            break
        time.sleep(0.2)
    assert seen[-10:] == [["acme-core", "listed-lib"]] * 10, seen[-10:]
    html = requests.get(server.simple_url, headers={"Connection": "close"}, timeout=30).text
    assert '<a href="listed-lib/">listed-lib</a>' in html
    assert html.count("acme-core") == 2 and "acme-secret" not in html  # one anchor: href, text


def test_pip_and_uv_install_a_listed_project(
    server: LiveServer, make_venv: VenvFactory
) -> None:
    # Cached here too: this test may run alone, or on another xdist worker than the above.
    assert requests.get(f"{server.simple_url}listed-lib/", headers=JSON,
                        timeout=30).status_code == 200  # fmt: skip
    deadline = time.monotonic() + LISTED_WITHIN
    while "listed-lib" not in names(server) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "listed-lib" in names(server)
    for install in (pip_install, uv_pip_install):
        venv = make_venv()
        installed = install(venv, server, "listed-lib")
        assert installed.returncode == 0, output(installed)
        assert venv.installed() == {"listed-lib": "9.0"}


def test_off_without_the_option(tmp_path: Path, upstream: StaticIndex) -> None:
    live = serve(tmp_path / "data", upstream)
    try:
        assert requests.get(f"{live.simple_url}listed-lib/", headers=JSON,
                            timeout=30).status_code == 200  # fmt: skip
        time.sleep(1.0)
        assert names(live) == []
    finally:
        live.stop()
