"""The README's library script, run as written (only the index URL points at a live server)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pubkit.testing import LiveServer
from tests.e2e.releasing import release_env, small_repo

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_release_script() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    (script,) = [block for block in blocks if "pubkit.release(" in block]
    return script


def test_the_readme_release_script_runs(server: LiveServer, tmp_path: Path) -> None:
    repo = small_repo(tmp_path / "repo", {"script-core": (), "script-app": ("script-core",)})
    script = readme_release_script().replace(
        "https://pypi.internal.example/simple/", server.simple_url
    )
    assert server.simple_url in script
    ran = subprocess.run([sys.executable, "-c", script], cwd=repo, env=release_env(),
                         capture_output=True, text=True, check=False, timeout=600)  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    lines = ran.stdout.splitlines()
    # The plan, the progress events, then one line per package.
    assert "script-core 1.0.0 -> 1.0.0 1.0.0 is set but not released yet" in lines
    assert any(line.startswith("StepFinished(package='script-app', step='publish'")
               for line in lines)  # fmt: skip
    summary = [line for line in lines if line.startswith("script-core 1.0.0 released (")]
    assert len(summary) == 1 and summary[0].endswith(") script-core-v1.0.0"), lines
    assert "'script_core-1.0.0.tar.gz'" in summary[0]
