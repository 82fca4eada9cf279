"""The Jenkins shared library in ``jenkins/``: its Groovy harness (each ``vars`` script loaded
with stubbed pipeline steps, the calls recorded and asserted: commands, credential bindings,
published reports, build result and description, failure paths; every example Jenkinsfile run
the same way) and CodeNarc over the library, both run as subprocesses with Debian's groovy.

``bash jenkins/install-tools.sh`` installs groovy, a JDK and CodeNarc. Without them these tests
are skipped on a developer's machine and fail under CI (``CI`` set), saying what to install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "jenkins"
CODENARC = Path("/usr/share/java/CodeNarc.jar")
INSTALL = "run: bash jenkins/install-tools.sh"

# The keys of pubkit-release.json that vars/pubkitRelease.groovy reads (its fixtures in
# jenkins/test/Fixtures.groovy have the same shape).
RESULT_KEYS = {"ok", "exit_code", "packages"}
STOPPED_KEYS = RESULT_KEYS | {"error"}


def require_tools(*, codenarc: bool = False) -> None:
    """Skip (fail under CI) with a one-line message when a tool the tests need is missing."""
    missing = [name for name, present in [
        ("groovy", shutil.which("groovy") is not None),
        ("CodeNarc (libcodenarc-groovy-java)", not codenarc or CODENARC.is_file()),
    ] if not present]  # fmt: skip
    if not missing:
        return
    message = f"{' and '.join(missing)} not installed; {INSTALL}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def run_script(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(LIBRARY / "test" / script), *args], cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=240)  # fmt: skip


def report(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit code {result.returncode}\n{result.stdout}\n{result.stderr}"


def test_groovy_harness_passes() -> None:
    require_tools()
    result = run_script("run.sh")
    assert result.returncode == 0, report(result)
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.endswith(" passed, 0 failed"), report(result)
    assert int(summary.split()[0]) >= 40, report(result)  # every test ran, none filtered out


def test_codenarc_reports_no_violation() -> None:
    require_tools(codenarc=True)
    result = run_script("lint.sh")
    assert result.returncode == 0, report(result)
    assert "0 violations" in result.stdout, report(result)


def test_harness_fails_on_a_broken_step(tmp_path: Path) -> None:
    """The harness is not a formality: a copy of the library whose release step puts the
    password into a Groovy string fails it."""
    require_tools()
    copy = shutil.copytree(LIBRARY, tmp_path / "jenkins")
    step = copy / "vars" / "pubkitRelease.groovy"
    text = step.read_text()
    broken = text.replace(
        "status = sh(script: command, returnStatus: true, label: 'pubkit release')",
        'status = sh(script: "PASSWORD=${env.PUBKIT_INDEX_PASSWORD} " + command,'
        " returnStatus: true, label: 'pubkit release')",
    )
    assert broken != text
    step.write_text(broken)
    result = subprocess.run(["bash", str(copy / "test" / "run.sh")], capture_output=True,
                            text=True, check=False, timeout=240)  # fmt: skip
    assert result.returncode == 1, report(result)
    assert "a double-quoted string names the secret PUBKIT_INDEX_PASSWORD" in result.stdout
    assert "leaked into sh" in result.stdout


def test_the_result_file_has_the_keys_the_library_reads(tmp_path: Path) -> None:
    """pubkit writes pubkit-release.json even when it stops on a configuration error (exit 2):
    the document pubkitRelease turns into the build's description and error."""
    result_file = tmp_path / "pubkit-release.json"
    run = subprocess.run([sys.executable, "-m", "pubkit", "release", "--workspace", str(tmp_path),
                          "--json", str(result_file), "--junit", str(tmp_path / "release.xml")],
                         capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
    assert run.returncode == 2, run.stderr
    document = json.loads(result_file.read_text())
    assert set(document) == STOPPED_KEYS
    assert document["exit_code"] == 2
    assert document["packages"] == []
    assert document["error"] in run.stderr
    assert (tmp_path / "release.xml").is_file()
