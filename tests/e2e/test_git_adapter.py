"""The git adapter against real repositories in temporary directories."""

from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath

import pytest

from pubkit.errors import ConfigurationError
from pubkit.releasing.adapters.git import Git

pytestmark = pytest.mark.e2e


def sh(cwd: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x", "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout


def commit(repo: Path, path: str, text: str, message: str) -> None:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    sh(repo, "add", path)
    sh(repo, "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    sh(root, "init", "-q", "-b", "main")
    commit(root, "packages/core/a.py", "1", "feat: core")
    commit(root, "packages/text/b.py", "1", "feat: text")
    return root


def test_changes_since_a_tag(repo: Path) -> None:
    git = Git(repo)
    sh(repo, "tag", "-a", "core-v1.0.0", "-m", "release")
    commit(repo, "packages/core/a.py", "2", "fix(core): off by one")
    commit(repo, "packages/text/b.py", "2", "docs: typo")
    assert git.tags() == ["core-v1.0.0"]
    assert git.changed_files("core-v1.0.0", PurePosixPath("packages/core")) == [
        PurePosixPath("packages/core/a.py")]
    assert git.changed_files("core-v1.0.0", PurePosixPath("packages/nothing")) == []
    assert git.changed_files(None, PurePosixPath("packages/text")) == [
        PurePosixPath("packages/text/b.py")]
    assert git.commit_messages("core-v1.0.0", PurePosixPath("packages/core")) == [
        "fix(core): off by one"]


def test_detached_head_and_branch(repo: Path) -> None:
    git = Git(repo)
    assert git.branch() == "main"
    sh(repo, "checkout", "-q", "--detach", "HEAD")
    assert git.branch() is None
    assert len(git.head()) == 40


def test_tags_only_from_this_history(repo: Path) -> None:
    sh(repo, "checkout", "-q", "-b", "other")
    commit(repo, "x.txt", "x", "chore: other branch")
    sh(repo, "tag", "-a", "text-v9.0.0", "-m", "elsewhere")
    sh(repo, "checkout", "-q", "main")
    assert Git(repo).tags() == []


def test_annotated_tag_is_idempotent_and_needs_no_identity(repo: Path, tmp_path: Path) -> None:
    git = Git(repo)
    git.create_tag("core-v1.0.0", "core 1.0.0")
    git.create_tag("core-v1.0.0", "core 1.0.0")  # same commit: nothing to do
    assert sh(repo, "cat-file", "-t", "core-v1.0.0").strip() == "tag"
    commit(repo, "packages/core/a.py", "3", "fix: again")
    with pytest.raises(ConfigurationError, match="already exists on another commit"):
        git.create_tag("core-v1.0.0", "core 1.0.0")


def test_push_tags_to_a_remote(repo: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    sh(tmp_path, "init", "-q", "--bare", str(remote))
    sh(repo, "remote", "add", "origin", str(remote))
    git = Git(repo)
    git.create_tag("core-v1.0.0", "core 1.0.0")
    git.push_tags(["core-v1.0.0"])
    git.push_tags(["core-v1.0.0"])  # again: already there, fine
    assert "core-v1.0.0" in sh(remote, "tag")


def test_shallow_clone_is_detected(repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    sh(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(clone))
    assert Git(clone).is_shallow()
    assert not Git(repo).is_shallow()


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is not a git repository"):
        Git(tmp_path).check_repository()


def test_tag_release_is_idempotent_and_pushes(repo: Path, tmp_path: Path) -> None:
    from pubkit.releasing.steps import tag_release

    remote = tmp_path / "remote.git"
    sh(tmp_path, "init", "-q", "--bare", str(remote))
    sh(repo, "remote", "add", "origin", str(remote))
    git = Git(repo)
    assert tag_release(git, "{name}-v{version}", "Acme_Core", "1.2.0", push=True) == (
        "acme-core-v1.2.0")
    assert tag_release(git, "{name}-v{version}", "acme-core", "1.2.0", push=True) == (
        "acme-core-v1.2.0")  # a re-run: nothing new
    assert sh(remote, "tag").split() == ["acme-core-v1.2.0"]
    message = sh(repo, "tag", "-l", "--format=%(contents:subject)", "acme-core-v1.2.0")
    assert message.strip() == "Release acme-core 1.2.0"
