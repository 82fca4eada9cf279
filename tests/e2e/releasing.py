"""Helpers for the e2e tests of `pubkit release`: git repositories of generated or example
monorepos, the command itself in a subprocess, and an upload endpoint that fails on cue."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pubkit.testing import LiveServer
from tests.e2e.support import PASSWORDS, access_log
from tests.faults.http_proxy import Fault, faulty_proxy

EXAMPLE_MONOREPO = Path(__file__).resolve().parents[2] / "examples" / "monorepo"
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
                "GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}  # fmt: skip


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=repo, env={**os.environ, **GIT_IDENTITY},
                            capture_output=True, text=True, check=True)  # fmt: skip
    return result.stdout


def init_repo(repo: Path) -> Path:
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial import")
    return repo


def example_repo(destination: Path) -> Path:
    """A fresh git repository holding a copy of ``examples/monorepo``."""
    shutil.copytree(EXAMPLE_MONOREPO, destination, ignore=shutil.ignore_patterns(
        "dist", "reports", "__pycache__", ".pytest_cache", "*.egg-info"))  # fmt: skip
    return init_repo(destination)


def write_package(repo: Path, name: str, version: str, *deps: str, test: str = "") -> None:
    """A small hatchling package with a real test (``test`` replaces its body)."""
    module = name.replace("-", "_")
    root = repo / "packages" / name
    (root / "src" / module).mkdir(parents=True, exist_ok=True)
    (root / "tests").mkdir(exist_ok=True)
    (root / "src" / module / "__init__.py").write_text(f'NAME = "{name}"\n')
    requirements = ", ".join(f'"{dep}"' for dep in deps)
    (root / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [project]
        name = "{name}"
        version = "{version}"
        description = "{name}, a package of the e2e monorepo"
        readme = "README.md"
        dependencies = [{requirements}]

        [project.optional-dependencies]
        test = ["pytest"]
        """))  # fmt: skip
    (root / "README.md").write_text(f"# {name}\n\nA package of the e2e monorepo.\n")
    body = test or f"from {module} import NAME\n\n\ndef test_name():\n    assert NAME == '{name}'\n"
    (root / "tests" / f"test_{module}.py").write_text(body)


def small_repo(repo: Path, packages: dict[str, tuple[str, ...]]) -> Path:
    """A git repository with one 1.0.0 package per entry (name -> internal requirements)."""
    repo.mkdir(parents=True)
    (repo / "pyproject.toml").write_text(
        '[tool.pubkit]\npackages = ["packages/*"]\ntest-extras = ["test"]\n'
    )
    for name, deps in packages.items():
        write_package(repo, name, "1.0.0", *deps)
    return init_repo(repo)


def release_env() -> dict[str, str]:
    # A CI job's own settings stay out, and so does the S3 endpoint other tests point at moto.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PUBKIT_", "TWINE_", "CI", "AWS_"))}  # fmt: skip
    env.update(PUBKIT_INDEX_USERNAME="alice", PUBKIT_INDEX_PASSWORD=PASSWORDS["alice"])
    return env


def pubkit_release(
    repo: Path, server: LiveServer, *args: str, upload_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pubkit", "release", "--workspace", str(repo),
               "--index-url", server.simple_url, *args]  # fmt: skip
    if upload_url:
        command += ["--upload-url", upload_url]
    return subprocess.run(command, capture_output=True, text=True, env=release_env(),
                          check=False, timeout=600)  # fmt: skip


def successful_uploads(server: LiveServer) -> int:
    return sum(1 for hit in access_log(server) if hit.method == "POST" and hit.status == 200)


@contextmanager
def failing_uploads(server: LiveServer, after: int) -> Iterator[str]:
    """An upload URL that passes the first ``after`` uploads to ``server``, then refuses."""
    passed = 0

    def rule(method: str, path: str) -> Fault | None:
        nonlocal passed
        if method != "POST" or "pubkit-preflight" in path:  # the preflight is no upload
            return None
        if passed < after:
            passed += 1
            return None
        return Fault(status=400, message="injected fault: the upload endpoint is down")

    with faulty_proxy(server.url, rule) as url:
        yield url + "/"
