"""`pubkit release` options against a live index: dev builds of a branch, pushing tags and
the release commit to a remote, a detached HEAD, and configuration errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pubkit.testing import LiveServer
from tests.e2e.releasing import git, pubkit_release, small_repo
from tests.e2e.support import files_by_name

pytestmark = pytest.mark.e2e


def test_dev_builds_are_uploaded_untagged_and_leave_the_tree_as_it_was(
    server: LiveServer, tmp_path: Path
) -> None:
    repo = small_repo(tmp_path / "repo", {"devb-core": (), "devb-app": ("devb-core",)})
    assert pubkit_release(repo, server).returncode == 0  # 1.0.0 of both, tagged
    (repo / "packages/devb-app/src/devb_app/__init__.py").write_text('NAME = "devb-app"\nX = 1\n')
    git(repo, "commit", "-qam", "feat(app): x")
    head = git(repo, "rev-parse", "HEAD")
    result = pubkit_release(repo, server, "--dev", "42", "--json", str(tmp_path / "r.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    packages = {p["name"]: p for p in json.loads((tmp_path / "r.json").read_text())["packages"]}
    assert packages["devb-app"]["version"] == "1.0.1.dev42"
    assert packages["devb-core"]["status"] == "skipped"
    assert [s["step"] for s in packages["devb-app"]["steps"]] == [
        "version", "build", "check", "test", "publish"]
    versions = {name.removesuffix(".tar.gz").split("-")[1]
                for name in files_by_name(server, "devb-app")}  # fmt: skip
    assert versions == {"1.0.0", "1.0.1.dev42"}
    # No tag, no commit, and the version file is back as it was.
    assert set(git(repo, "tag").split()) == {"devb-core-v1.0.0", "devb-app-v1.0.0"}
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""
    again = pubkit_release(repo, server, "--dev", "42")
    assert again.returncode == 0 and again.stdout.strip().endswith("nothing to release"), (
        again.stdout + again.stderr
    )


def test_push_sends_the_release_commit_and_the_tags(server: LiveServer, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    remote.mkdir()
    git(remote, "init", "-q", "--bare", "-b", "main")
    repo = small_repo(tmp_path / "repo", {"push-core": ()})
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    git(repo, "tag", "-a", "push-core-v0.9.0", "-m", "before pubkit")
    (repo / "packages/push-core/src/push_core/__init__.py").write_text('NAME = "push-core"\n#\n')
    git(repo, "commit", "-qam", "fix: comment")
    result = pubkit_release(repo, server, "--bump", "minor", "--push")
    assert result.returncode == 0, result.stdout + result.stderr
    # 1.0.0 was set but never released: released as it is, so no release commit to push.
    assert result.stdout.splitlines()[-1] == "pushed push-core-v1.0.0"
    assert git(remote, "log", "-1", "--format=%s", "main").strip() == "initial import"
    assert git(remote, "tag").split() == ["push-core-v1.0.0"]

    # A bump commits the new version, and --push takes that commit along.
    (repo / "packages/push-core/src/push_core/__init__.py").write_text('NAME = "push-core"\n')
    git(repo, "commit", "-qam", "fix: again")
    bumped = pubkit_release(repo, server, "--bump", "minor", "--push")
    assert bumped.returncode == 0, bumped.stdout + bumped.stderr
    assert git(remote, "log", "-1", "--format=%s", "main").strip() == "release: push-core 1.1.0"
    assert set(git(remote, "tag").split()) == {"push-core-v1.0.0", "push-core-v1.1.0"}

    # On a detached HEAD (as Jenkins checks out) pubkit cannot tell where the commit goes:
    # it says so before changing anything.
    (repo / "packages/push-core/src/push_core/__init__.py").write_text('NAME = "push-core"\n##\n')
    git(repo, "commit", "-qam", "fix: third")
    git(repo, "checkout", "-q", "--detach")
    detached = pubkit_release(repo, server, "--bump", "minor", "--push", "--json",
                              str(tmp_path / "detached.json"))  # fmt: skip
    assert detached.returncode == 2
    assert detached.stderr.startswith("error: HEAD is detached")
    assert json.loads((tmp_path / "detached.json").read_text())["exit_code"] == 2
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""
    nocommit = pubkit_release(repo, server, "--bump", "minor", "--push", "--no-commit")
    assert nocommit.returncode == 0, nocommit.stdout + nocommit.stderr
    assert "push-core-v1.2.0" in git(remote, "tag").split()


def test_configuration_errors_exit_2_in_one_line(server: LiveServer, tmp_path: Path) -> None:
    repo = small_repo(tmp_path / "repo", {"conf-core": ()})
    unknown = pubkit_release(repo, server, "nope")
    assert unknown.returncode == 2
    assert unknown.stderr.count("\n") == 1 and unknown.stderr.startswith("error: ")
    bad_bump = pubkit_release(repo, server, "--bump", "huge")
    assert bad_bump.returncode == 2
    assert "--bump 'huge' is unknown" in bad_bump.stderr
