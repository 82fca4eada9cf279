"""`pubkit release` of the example monorepo into a live `pubkit serve`: the first release, a
re-run with nothing to do, a change to one leaf package, then a change to the shared core
that its dependents follow; the results installed with pip from the index."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from pubkit.testing import LiveServer
from tests.e2e.releasing import example_repo, git, pubkit_release, successful_uploads
from tests.e2e.support import Venv, files_by_name, pip, pip_install

pytestmark = pytest.mark.e2e

PACKAGES = ("acme-core", "acme-text", "acme-aws", "acme-kafka")


def released(document: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["version"] for p in document["packages"] if p["status"] == "released"}


def upload_times(server: LiveServer, project: str, version: str) -> list[str]:
    return [entry["upload-time"] for name, entry in files_by_name(server, project).items()
            if f"-{version}" in name]  # fmt: skip


def test_release_the_example_monorepo_and_follow_changes(
    server: LiveServer, tmp_path: Path, venv: Venv
) -> None:
    repo = example_repo(tmp_path / "repo")
    result_file, junit_file = tmp_path / "result.json", tmp_path / "release.xml"

    first = pubkit_release(repo, server, "--jobs", "2", "--json", str(result_file),
                           "--junit", str(junit_file))  # fmt: skip
    assert first.returncode == 0, first.stdout + first.stderr
    document = json.loads(result_file.read_text())
    assert released(document) == {"acme-core": "1.2.0", "acme-text": "1.0.0",
                                  "acme-aws": "1.0.0", "acme-kafka": "1.0.0"}  # fmt: skip
    assert document["ok"] is True and document["exit_code"] == 0
    for package in document["packages"]:
        assert [s["step"] for s in package["steps"]] == ["build", "check", "test", "publish",
                                                         "tag"]  # fmt: skip
        assert len(package["uploaded"]) == 2
        assert (repo / "reports" / f"{package['name']}.xml").is_file()
    assert set(git(repo, "tag").split()) == {"acme-core-v1.2.0", "acme-text-v1.0.0",
                                             "acme-aws-v1.0.0", "acme-kafka-v1.0.0"}  # fmt: skip
    suites = ElementTree.parse(junit_file).getroot().findall("testsuite")  # noqa: S314 - ours
    assert {suite.get("name") for suite in suites} == set(PACKAGES)
    assert all(suite.get("failures") == "0" for suite in suites)
    assert "alice-e2e-password" not in first.stdout + first.stderr

    # Nothing changed: nothing to do, nothing uploaded, exit 0.
    uploads = successful_uploads(server)
    again = pubkit_release(repo, server)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().splitlines()[-1] == "nothing to release"
    assert successful_uploads(server) == uploads

    # One file of one leaf package changes: exactly that package is released.
    producer = repo / "packages" / "acme-kafka" / "src" / "acme_kafka" / "producer.py"
    producer.write_text(producer.read_text() + "\n# flush in batches of the configured size\n")
    git(repo, "commit", "-qam", "fix(kafka): document batching")
    leaf = pubkit_release(repo, server, "--bump", "patch", "--json", str(result_file))
    assert leaf.returncode == 0, leaf.stdout + leaf.stderr
    assert released(json.loads(result_file.read_text())) == {"acme-kafka": "1.0.1"}
    assert successful_uploads(server) == uploads + 2
    # The new version is committed, and the tag marks that commit.
    assert git(repo, "log", "-1", "--format=%s").strip() == "release: acme-kafka 1.0.1"
    assert 'version = "1.0.1"' in (repo / "packages/acme-kafka/pyproject.toml").read_text()
    assert git(repo, "rev-parse", "acme-kafka-v1.0.1^{commit}") == git(repo, "rev-parse", "HEAD")
    assert git(repo, "status", "--porcelain") == ""

    # The shared core changes incompatibly: it gets the major bump; every dependent whose
    # requirement must be widened to admit it gets a patch (not the core's major), after
    # the core.
    settings = repo / "packages" / "acme-core" / "src" / "acme_core" / "settings.py"
    settings.write_text(settings.read_text() + "\n# settings are read once per process\n")
    git(repo, "commit", "-qam", "feat(core)!: settings are frozen")
    core = pubkit_release(repo, server, "--bump", "major", "--jobs", "2",
                          "--json", str(result_file))  # fmt: skip
    assert core.returncode == 0, core.stdout + core.stderr
    patched = {"acme-text": "1.0.1", "acme-aws": "1.0.1", "acme-kafka": "1.0.2"}
    assert released(json.loads(result_file.read_text())) == {"acme-core": "2.0.0", **patched}
    core_uploaded = max(upload_times(server, "acme-core", "2.0.0"))
    for dependent, version in patched.items():
        assert min(upload_times(server, dependent, version)) >= core_uploaded
        pyproject = (repo / "packages" / dependent / "pyproject.toml").read_text()
        assert '"acme-core>=' in pyproject and ",<3" in pyproject
    assert git(repo, "status", "--porcelain") == ""

    # What the index now serves installs as one consistent set, from pubkit alone.
    installed = pip_install(venv, server, "acme-text", "acme-kafka")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    versions = venv.installed()
    assert (versions["acme-core"], versions["acme-text"], versions["acme-kafka"]) == (
        "2.0.0", "1.0.1", "1.0.2")
    check = pip("check", python=venv.python)
    assert check.returncode == 0, check.stdout + check.stderr
    probe = subprocess.run(
        [str(venv.python), "-c", "import acme_text, acme_core; print(acme_core.__name__)"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert sys.executable  # the release ran under this interpreter's pubkit
