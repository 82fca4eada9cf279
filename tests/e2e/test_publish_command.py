"""`pubkit publish` against a live index: uploads what is missing, skips what is there,
stops on a file that exists with other bytes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pubkit.testing import LiveServer, make_sdist, make_wheel
from tests.e2e.support import PASSWORDS, files_by_name

pytestmark = pytest.mark.e2e


def _workspace(root: Path) -> Path:
    (root / "packages" / "e2e-pub").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.pubkit]\npackages = ["packages/*"]\n')
    (root / "packages" / "e2e-pub" / "pyproject.toml").write_text(
        '[project]\nname = "e2e-pub"\nversion = "1.0"\n'
    )
    return root


def _publish(root: Path, server: LiveServer) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUBKIT_", "TWINE_"))}
    env.update(PUBKIT_INDEX_USERNAME="alice", PUBKIT_INDEX_PASSWORD=PASSWORDS["alice"])
    return subprocess.run(
        [sys.executable, "-m", "pubkit", "publish", "--workspace", str(root),
         "--index-url", server.simple_url],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip


def test_publish_is_idempotent_and_refuses_conflicts(server: LiveServer, tmp_path: Path) -> None:
    root = _workspace(tmp_path / "repo")
    dist = root / "dist" / "e2e-pub"
    wheel = make_wheel(dist, "e2e-pub", "1.0")
    make_sdist(dist, "e2e-pub", "1.0")
    first = _publish(root, server)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "uploaded e2e_pub-1.0.tar.gz", "uploaded e2e_pub-1.0-py3-none-any.whl"]
    assert PASSWORDS["alice"] not in first.stdout + first.stderr
    assert set(files_by_name(server, "e2e-pub")) == {wheel.name, "e2e_pub-1.0.tar.gz"}
    again = _publish(root, server)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [
        "already on the index: e2e_pub-1.0-py3-none-any.whl",
        "already on the index: e2e_pub-1.0.tar.gz",
    ]
    make_wheel(dist, "e2e-pub", "1.0", modules={"e2e_pub/x.py": "X = 1\n"})  # other bytes
    conflict = _publish(root, server)
    assert conflict.returncode == 1
    assert conflict.stderr == (
        "error: e2e_pub-1.0-py3-none-any.whl already on the index with other content; files"
        " are immutable: bump the version of e2e-pub\n"
    )


def test_publish_without_builds_says_what_to_do(server: LiveServer, tmp_path: Path) -> None:
    root = _workspace(tmp_path / "repo")
    result = _publish(root, server)
    assert result.returncode == 1
    assert "run `pubkit build e2e-pub` first" in result.stderr
