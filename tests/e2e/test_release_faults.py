"""`pubkit release` when things go wrong: an upload endpoint that fails half-way, a file the
index already has with other bytes, a package whose tests fail, and a dry run. Every case
ends with the evidence: what is on the index, which tags exist, what the re-run did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pubkit.testing import LiveServer, make_sdist
from tests.e2e.releasing import (
    failing_uploads,
    git,
    pubkit_release,
    small_repo,
    successful_uploads,
    write_package,
)
from tests.e2e.support import files_by_name, project_json, twine_upload

pytestmark = pytest.mark.e2e


def tags(repo: Path) -> set[str]:
    return set(git(repo, "tag").split())


def index_files(server: LiveServer, *projects: str) -> dict[str, str]:
    """filename -> sha256 of every file of ``projects`` on the index."""
    found = {}
    for project in projects:
        for entry in project_json(server, project)["files"]:
            found[entry["filename"]] = entry["hashes"]["sha256"]
    return found


@pytest.mark.parametrize("after", [1, 2, 3])
def test_a_rerun_after_a_failed_upload_completes_the_release(
    server: LiveServer, tmp_path: Path, after: int
) -> None:
    # Two packages, four uploads in dependency order: core's sdist and wheel, then app's.
    # Failing after the 1st leaves core half-uploaded; after the 2nd, core done and app not
    # started; after the 3rd, app half-uploaded.
    core, app = f"fault{after}-core", f"fault{after}-app"
    repo = small_repo(tmp_path / "repo", {core: (), app: (f"{core}>=1.0",)})
    before = successful_uploads(server)
    with failing_uploads(server, after) as upload_url:
        failed = pubkit_release(repo, server, "--json", str(tmp_path / "first.json"),
                                upload_url=upload_url)  # fmt: skip
    assert failed.returncode == 1, failed.stdout + failed.stderr
    first = json.loads((tmp_path / "first.json").read_text())
    statuses = {p["name"]: p["status"] for p in first["packages"]}
    assert statuses == ({core: "failed", app: "blocked"} if after < 2 else
                        {core: "released", app: "failed"})  # fmt: skip
    assert "injected fault" not in failed.stdout  # the reason is the status, in one line
    assert "the index answered 400" in failed.stdout
    assert "re-run `pubkit release`" in failed.stdout
    # A tag only marks a package that is entirely on the index.
    assert tags(repo) == ({f"{core}-v1.0.0"} if after >= 2 else set())
    assert successful_uploads(server) - before == after

    rerun = pubkit_release(repo, server, "--json", str(tmp_path / "second.json"))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    # Every file exactly once: four successful uploads over both runs, four files listed.
    assert successful_uploads(server) - before == 4
    assert len(index_files(server, core, app)) == 4
    assert tags(repo) == {f"{core}-v1.0.0", f"{app}-v1.0.0"}
    second = {p["name"]: p for p in json.loads((tmp_path / "second.json").read_text())["packages"]}
    if after == 1:
        # core's sdist was up; the rebuilt one has the same contents, so it counts as there.
        assert len(second[core]["uploaded"]) == 1
        assert len(second[core]["already_there"]) == 1
    if after == 3:
        assert second[core]["status"] == "skipped"
        assert len(second[app]["uploaded"]) == 1


def test_a_file_on_the_index_with_other_bytes_stops_the_release(
    server: LiveServer, tmp_path: Path
) -> None:
    repo = small_repo(tmp_path / "repo", {"clash-core": (), "clash-other": ()})
    # Someone uploaded clash-core 1.0.0 from other sources.
    foreign = make_sdist(tmp_path / "foreign", "clash-core", "1.0.0")
    twine_upload(server, [foreign], "alice")
    result = pubkit_release(repo, server, "--json", str(tmp_path / "result.json"))
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith("failed")]
    assert lines == [
        "failed    clash-core 1.0.0: publish: clash_core-1.0.0.tar.gz already on the index with"
        " other content; files are immutable: bump the version of clash-core"
    ]
    # The independent package released; the foreign file is untouched.
    assert "clash-other-v1.0.0" in tags(repo) and "clash-core-v1.0.0" not in tags(repo)
    assert set(files_by_name(server, "clash-core")) == {foreign.name}


def test_failing_tests_stop_a_package_and_its_dependents_only(
    server: LiveServer, tmp_path: Path
) -> None:
    packages = {"red-base": (), "red-mid": ("red-base",), "red-top": ("red-mid", "red-left"),
                "red-left": (), "red-side": ("red-base",)}  # fmt: skip
    repo = small_repo(tmp_path / "repo", packages)
    for broken in ("red-mid", "red-left"):
        write_package(repo, broken, "1.0.0", *packages[broken],
                      test="def test_fails():\n    assert 1 + 1 == 3\n")  # fmt: skip
    git(repo, "commit", "-qam", "break red-mid's and red-left's tests")
    junit = tmp_path / "release.xml"
    result = pubkit_release(repo, server, "--jobs", "2", "--junit", str(junit))
    assert result.returncode == 1
    assert "failed    red-mid 1.0.0: test: tests failed: 1 failed" in result.stdout
    # Every failed dependency is named, not only the first one to fail.
    assert "blocked   red-top 1.0.0: not released because red-left, red-mid failed" in (
        result.stdout
    )
    assert tags(repo) == {"red-base-v1.0.0", "red-side-v1.0.0"}
    assert files_by_name(server, "red-side") and not project_json_or_none(server, "red-mid")
    assert (repo / "reports" / "red-mid.xml").is_file()  # pytest's own report
    report = junit.read_text()
    assert 'testsuite name="red-mid"' in report and "<failure" in report

    for broken in ("red-mid", "red-left"):
        write_package(repo, broken, "1.0.0", *packages[broken])  # the fix
    git(repo, "commit", "-qam", "fix the tests")
    rerun = pubkit_release(repo, server, "--jobs", "2")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert tags(repo) == {f"{name}-v1.0.0" for name in packages}


def project_json_or_none(server: LiveServer, project: str) -> object:
    import requests

    response = requests.get(f"{server.simple_url}{project}/", timeout=10)
    return None if response.status_code == 404 else response.text


def test_a_dry_run_changes_nothing(server: LiveServer, tmp_path: Path) -> None:
    repo = small_repo(tmp_path / "repo", {"dry-core": (), "dry-app": ("dry-core",)})
    git(repo, "tag", "-a", "dry-core-v1.0.0", "-m", "baseline")
    (repo / "packages" / "dry-core" / "src" / "dry_core" / "__init__.py").write_text("X = 2\n")
    git(repo, "commit", "-qam", "feat: change core")
    head, status = git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain")
    snapshot = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}
    uploads = successful_uploads(server)
    result = pubkit_release(repo, server, "--dry-run", "--bump", "minor", "--push",
                            "--json", str(tmp_path / "dry.json"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "dry run: 2 package(s) would be released; nothing was changed" in result.stdout
    document = json.loads((tmp_path / "dry.json").read_text())
    assert {p["name"]: p["version"] for p in document["packages"]} == {
        "dry-core": "1.1.0", "dry-app": "1.0.0"}
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == status
    assert tags(repo) == {"dry-core-v1.0.0"}
    after = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert after == snapshot
    assert successful_uploads(server) == uploads
    assert project_json_or_none(server, "dry-core") is None
