"""Downloads from S3 storage: `--download-mode redirect` sends pip and uv to a presigned URL
(the same one for repeated downloads), `proxy` streams through the server; both install."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pubkit.testing import LiveServer, free_port, make_wheel
from tests.conftest import server_backend, unique_bucket_name
from tests.e2e.support import (
    LogWindow,
    Venv,
    VenvFactory,
    file_path,
    output,
    pip_install,
    start_server,
    twine_upload,
    uv_pip_install,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def redirecting(
    moto_s3: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with server_backend("s3-postgres", unique_bucket_name("e2e-s3-redirect")):
        live = start_server(tmp_path_factory.mktemp("redirect") / "data",
                            "--download-mode", "redirect")  # fmt: skip
        try:
            yield live
        finally:
            live.stop()


def test_redirect_mode_sends_clients_to_a_stable_presigned_url(
    redirecting: LiveServer, moto_s3: str, make_venv: VenvFactory, dists: Path
) -> None:
    wheel = make_wheel(dists, "e2e-redirected", "1.0")
    assert twine_upload(redirecting, [wheel], "alice").returncode == 0
    url = f"{redirecting.url}files/e2e-redirected/{wheel.name}"
    first = requests.get(url, allow_redirects=False, timeout=10)
    second = requests.get(url, allow_redirects=False, timeout=10)
    assert first.status_code == 302
    location = first.headers["location"]
    # The run's own bucket (e2e-s3-redirect-<suffix>), under the server's prefix.
    assert re.match(rf"{re.escape(moto_s3)}/e2e-s3-redirect-[0-9a-f]+/pubkit/e2e-redirected/",
                    location), location
    assert second.headers["location"] == location  # pip's HTTP cache keys on it
    fetched = requests.get(location, timeout=10)
    assert fetched.content == wheel.read_bytes()
    assert "immutable" in fetched.headers["cache-control"]

    for install in (pip_install, uv_pip_install):
        venv: Venv = make_venv()
        window = LogWindow(redirecting)
        installed = install(venv, redirecting, "e2e-redirected")
        assert installed.returncode == 0, output(installed)
        assert venv.installed()["e2e-redirected"] == "1.0"
        # The server answered with the redirect; the bytes came from S3.
        assert window.statuses("GET", file_path("e2e-redirected", wheel.name)) == [302], (
            window.describe()
        )


def test_redirect_mode_needs_a_presigning_storage(tmp_path: Path) -> None:
    local = {k: v for k, v in os.environ.items() if not k.startswith("PUBKIT_")}
    result = subprocess.run(
        [sys.executable, "-m", "pubkit", "serve", "--data-dir", str(tmp_path / "data"),
         "--port", str(free_port()), "--download-mode", "redirect"],
        capture_output=True, text=True, timeout=60, check=False, env=local,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: --download-mode redirect needs a storage that presigns URLs (s3://…); use proxy"
    )
