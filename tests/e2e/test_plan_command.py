"""`pubkit plan` on a real git repository, asking a live index what it already has."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pubkit.testing import LiveServer, make_sdist, make_wheel
from tests.e2e.support import twine_upload

pytestmark = pytest.mark.e2e

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x", "PATH": "/usr/bin:/bin"}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, env={**GIT_ENV, "HOME": str(repo)}, check=True,
                   capture_output=True)


def write_package(repo: Path, name: str, version: str, *deps: str) -> None:
    root = repo / "packages" / name
    (root / "src" / name.replace("-", "_")).mkdir(parents=True, exist_ok=True)
    (root / "src" / name.replace("-", "_") / "__init__.py").write_text("")
    requirements = ", ".join(f'"{dep}"' for dep in deps)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "{version}"\ndependencies = [{requirements}]\n'
    )


@pytest.fixture
def monorepo(tmp_path: Path) -> Iterator[Path]:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "pyproject.toml").write_text('[tool.pubkit]\npackages = ["packages/*"]\n'
                                         'tag-fromat = "{name}-v{version}"\n')
    write_package(repo, "acme-core", "1.2.0")
    write_package(repo, "acme-text", "1.0.0", "acme-core>=1.2,<2")
    write_package(repo, "acme-kafka", "0.3.0")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "feat: initial")
    for tag in ("acme-core-v1.2.0", "acme-text-v1.0.0", "acme-kafka-v0.3.0"):
        git(repo, "tag", "-a", tag, "-m", tag)
    yield repo


def pubkit_plan(repo: Path, server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pubkit", "plan", "--workspace", str(repo),
         "--index-url", server.simple_url, *args],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def test_plan_manual_asks_the_index(monorepo: Path, server: LiveServer, tmp_path: Path) -> None:
    twine_upload(server, [make_wheel(tmp_path / "d", "acme-core", "1.2.0")], "alice")
    half = json.loads(pubkit_plan(monorepo, server, "--json").stdout)["packages"]
    core = next(p for p in half if p["name"] == "acme-core")
    # A wheel without its sdist: an interrupted release, which the next one finishes.
    assert (core["action"], core["reason"]) == (
        "release", "1.2.0 is only partly on the index: finishing it")
    twine_upload(server, [make_sdist(tmp_path / "d", "acme-core", "1.2.0")], "alice")
    result = pubkit_plan(monorepo, server, "--json")
    assert result.returncode == 0, result.stderr
    # The misspelled key is named, with the likely intended one.
    assert "'tag-fromat'" in result.stderr and "'tag-format'" in result.stderr
    plan = {p["name"]: p for p in json.loads(result.stdout)["packages"]}
    assert plan["acme-core"]["action"] == "skip"
    assert plan["acme-core"]["reason"] == "1.2.0 is already on the index"
    assert plan["acme-text"]["action"] == "release"
    assert plan["acme-text"]["reason"] == "1.0.0 is not on the index yet"
    order = list(plan)
    assert order.index("acme-core") < order.index("acme-text")


def test_plan_bump_follows_changes_and_dependents(monorepo: Path, server: LiveServer) -> None:
    (monorepo / "packages" / "acme-core" / "src" / "acme_core" / "__init__.py").write_text("X=1")
    git(monorepo, "commit", "-q", "-am", "fix: core")
    result = pubkit_plan(monorepo, server, "--json", "--bump", "major")
    assert result.returncode == 0, result.stderr
    plan = {p["name"]: p for p in json.loads(result.stdout)["packages"]}
    # The major bump is the changed core's; its dependent needs only a patch (its
    # requirement is widened to admit 2.0.0).
    assert (plan["acme-core"]["next"], plan["acme-text"]["next"]) == ("2.0.0", "1.0.1")
    assert plan["acme-text"]["requirement_changes"] == [
        {"dependency": "acme-core", "old": "acme-core>=1.2,<2", "new": "acme-core>=1.2,<3"}]
    assert plan["acme-kafka"]["action"] == "skip"
    table = pubkit_plan(monorepo, server, "--bump", "patch")
    assert "acme-core" in table.stdout and "package(s) to release" in table.stdout


def test_plan_errors_are_one_line(tmp_path: Path, server: LiveServer) -> None:
    result = pubkit_plan(tmp_path, server)
    assert result.returncode == 2
    assert "has no [tool.pubkit] table" in result.stderr
    assert result.stderr.count("\n") == 1


def test_plan_of_the_example_monorepo(tmp_path: Path, server: LiveServer) -> None:
    import shutil

    repo = tmp_path / "monorepo"
    shutil.copytree(Path(__file__).parents[2] / "examples" / "monorepo", repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "feat: the example")
    result = pubkit_plan(repo, server, "--json")
    assert result.returncode == 0, result.stderr
    plan = [p["name"] for p in json.loads(result.stdout)["packages"]]
    assert plan[0] == "acme-core"
    assert sorted(plan) == ["acme-aws", "acme-core", "acme-kafka", "acme-text"]


def test_plan_of_named_packages_shows_them_and_what_they_need(
    monorepo: Path, server: LiveServer
) -> None:
    text = pubkit_plan(monorepo, server, "--json", "acme-text")
    assert text.returncode == 0, text.stderr
    assert [p["name"] for p in json.loads(text.stdout)["packages"]] == ["acme-core", "acme-text"]
    kafka = pubkit_plan(monorepo, server, "--json", "acme-kafka")
    assert [p["name"] for p in json.loads(kafka.stdout)["packages"]] == ["acme-kafka"]


def test_plan_in_a_repository_without_commits(tmp_path: Path, server: LiveServer) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    (repo / "pyproject.toml").write_text('[tool.pubkit]\npackages = ["packages/*"]\n')
    write_package(repo, "fresh-core", "0.1.0")
    git(repo, "init", "-q", "-b", "main")  # nothing committed: nothing released yet
    for args in ((), ("--bump", "minor")):
        result = pubkit_plan(repo, server, "--json", *args)
        assert result.returncode == 0 and result.stderr == "", result.stderr
        (entry,) = json.loads(result.stdout)["packages"]
        # Never released: its first version is released as it is written.
        assert (entry["action"], entry["next"]) == ("release", "0.1.0"), entry


def test_plan_given_the_server_root_finds_the_simple_api(
    monorepo: Path, server: LiveServer, tmp_path: Path
) -> None:
    for dist in (make_wheel(tmp_path / "r", "acme-kafka", "0.3.0"),
                 make_sdist(tmp_path / "r", "acme-kafka", "0.3.0")):  # fmt: skip
        assert twine_upload(server, [dist], "alice").returncode == 0
    result = subprocess.run(
        [sys.executable, "-m", "pubkit", "plan", "--workspace", str(monorepo), "--json",
         "--index-url", server.url], capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    plan = {p["name"]: p for p in json.loads(result.stdout)["packages"]}
    assert plan["acme-kafka"]["reason"] == "0.3.0 is already on the index"
