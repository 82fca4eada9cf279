"""Publish with twine, install with pip into a fresh venv, from pubkit and nowhere else."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
import requests

from pubkit.testing import LiveServer, make_sdist, make_wheel
from tests.e2e.support import (
    LogWindow,
    Venv,
    file_path,
    files_by_name,
    output,
    pip_install,
    sha256_of,
    twine_upload,
)

pytestmark = pytest.mark.e2e
SERVER_BACKENDS = ("local", "s3-postgres")  # the server core's suite runs on both


def test_twine_upload_then_pip_install(
    server: LiveServer, venv: Venv, dists: Path, tmp_path: Path
) -> None:
    wheel = make_wheel(dists, "e2e-twine-demo", "1.3")
    sdist = make_sdist(dists, "e2e-twine-demo", "1.3")

    window = LogWindow(server)
    uploaded = twine_upload(server, [wheel, sdist], "alice")
    assert uploaded.returncode == 0, output(uploaded)
    assert window.statuses("POST", "/") == [200, 200], window.describe()
    listed = files_by_name(server, "e2e-twine-demo")
    assert {name: entry["hashes"]["sha256"] for name, entry in listed.items()} == {
        wheel.name: sha256_of(wheel),
        sdist.name: sha256_of(sdist),
    }

    window = LogWindow(server)
    report = tmp_path / "report.json"
    installed = pip_install(venv, server, "e2e-twine-demo", report=report)
    assert installed.returncode == 0, output(installed)
    assert "Successfully installed e2e-twine-demo-1.3" in installed.stdout, output(installed)

    # Proof of origin: pip's own report names the server's URL and the uploaded file's hash...
    (item,) = json.loads(report.read_text())["install"]
    assert item["download_info"]["url"] == f"{server.url}files/e2e-twine-demo/{wheel.name}"
    assert item["download_info"]["archive_info"]["hashes"]["sha256"] == sha256_of(wheel)
    # ... the server saw the page and the file fetched ...
    wheel_path = file_path("e2e-twine-demo", wheel.name)
    assert window.statuses("GET", "/simple/e2e-twine-demo/") == [200], window.describe()
    assert window.statuses("GET", wheel_path) == [200], window.describe()
    # ... and the venv imports the module at the uploaded version, from its own site-packages.
    version, module_file = venv.module_version("e2e_twine_demo")
    assert version == "1.3"
    assert module_file.is_relative_to(venv.path)
    assert venv.installed() == {"e2e-twine-demo": "1.3"}


def test_dependency_is_installed_from_the_index(
    server: LiveServer, venv: Venv, dists: Path
) -> None:
    lib = make_wheel(dists, "e2e-dep-lib", "2.1")
    app = make_wheel(dists, "e2e-dep-app", "0.4", requires=["e2e-dep-lib>=2"])
    uploaded = twine_upload(server, [lib, app], "alice")
    assert uploaded.returncode == 0, output(uploaded)

    window = LogWindow(server)
    installed = pip_install(venv, server, "e2e-dep-app")
    assert installed.returncode == 0, output(installed)
    assert window.statuses("GET", file_path("e2e-dep-app", app.name)) == [200], window.describe()
    assert window.statuses("GET", file_path("e2e-dep-lib", lib.name)) == [200], window.describe()
    assert venv.installed() == {"e2e-dep-app": "0.4", "e2e-dep-lib": "2.1"}
    assert venv.module_version("e2e_dep_app")[0] == "0.4"
    assert venv.module_version("e2e_dep_lib")[0] == "2.1"


def test_pip_uses_pep_658_metadata(server: LiveServer, venv: Venv, dists: Path) -> None:
    wheel = make_wheel(dists, "e2e-metadata", "0.9", requires_python=">=3.8")
    uploaded = twine_upload(server, [wheel], "alice")
    assert uploaded.returncode == 0, output(uploaded)

    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read("e2e_metadata-0.9.dist-info/METADATA")
    entry = files_by_name(server, "e2e-metadata")[wheel.name]
    assert entry["core-metadata"] == {"sha256": hashlib.sha256(metadata).hexdigest()}
    assert entry["requires-python"] == ">=3.8"
    served = requests.get(f"{server.url}files/e2e-metadata/{wheel.name}.metadata", timeout=10)
    assert served.status_code == 200
    assert served.content == metadata

    window = LogWindow(server)
    installed = pip_install(venv, server, "e2e-metadata")
    assert installed.returncode == 0, output(installed)
    # pip resolved from the .metadata file (PEP 658) and then fetched the wheel itself, once each.
    metadata_path = file_path("e2e-metadata", wheel.name + ".metadata")
    assert window.statuses("GET", metadata_path) == [200], window.describe()
    assert window.statuses("GET", file_path("e2e-metadata", wheel.name)) == [200], window.describe()
    get_paths = [hit.path for hit in window.hits() if hit.method == "GET"]
    assert get_paths.index(metadata_path) < get_paths.index(
        file_path("e2e-metadata", wheel.name)
    ), window.describe()
    assert f"{wheel.name}.metadata" in installed.stdout, output(installed)
    assert venv.module_version("e2e_metadata")[0] == "0.9"
