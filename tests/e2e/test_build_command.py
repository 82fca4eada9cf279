"""`pubkit build` on the example monorepo: pypa build, sdist first, wheel from the sdist."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from pubkit.releasing.adapters.builder import PypaBuilder
from pubkit.releasing.adapters.process import FakeRunner

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).parents[2] / "examples" / "monorepo"


def test_build_two_packages_of_the_example(tmp_path: Path) -> None:
    repo = tmp_path / "monorepo"
    shutil.copytree(EXAMPLE, repo)
    result = subprocess.run(
        [sys.executable, "-m", "pubkit", "build", "acme-kafka", "acme-core", "--workspace",
         str(repo)],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    built = [line.removeprefix("built ") for line in result.stdout.splitlines()]
    # Dependency order: acme-core before acme-kafka, whatever order they were asked in.
    assert [Path(p).name for p in built] == [
        "acme_core-1.2.0.tar.gz", "acme_core-1.2.0-py3-none-any.whl",
        "acme_kafka-1.0.0.tar.gz", "acme_kafka-1.0.0-py3-none-any.whl",
    ]
    wheel = repo / "dist" / "acme-kafka" / "acme_kafka-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read("acme_kafka-1.0.0.dist-info/METADATA").decode()
    (requirement,) = [
        Requirement(line.removeprefix("Requires-Dist: "))
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist: acme-core")
    ]
    assert requirement.specifier == SpecifierSet(">=1.2,<2")
    assert not any(p.name.startswith(".build-") for p in (repo / "dist").rglob("*"))


def test_a_broken_package_fails_with_one_line(tmp_path: Path) -> None:
    repo = tmp_path / "monorepo"
    shutil.copytree(EXAMPLE, repo)
    pyproject = repo / "packages" / "acme-text" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('requires = ["setuptools', 'requires = ["'
                                                       'no-such-backend-xyz", "setuptools', 1))
    result = subprocess.run(
        [sys.executable, "-m", "pubkit", "build", "acme-text", "--workspace", str(repo)],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("error: acme-text did not build: ")
    assert result.stderr.count("\n") == 1


def test_build_command_line() -> None:
    runner = FakeRunner()
    builder = PypaBuilder(runner, use_uv=True, python="python")
    assert builder.command(Path("pkg"), Path("out")) == [
        "python", "-m", "build", "--outdir", "out", "--installer", "uv", "pkg"]
    isolated_off = PypaBuilder(runner, isolated=False, python="python")
    assert "--no-isolation" in isolated_off.command(Path("pkg"), Path("out"))


def _check(repo: Path, *packages: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pubkit", "check", *packages, "--workspace", str(repo)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


def test_check_what_was_built(tmp_path: Path) -> None:
    repo = tmp_path / "monorepo"
    shutil.copytree(EXAMPLE, repo)
    subprocess.run([sys.executable, "-m", "pubkit", "build", "acme-core", "--workspace",
                    str(repo)], check=True, capture_output=True, timeout=600)
    result = _check(repo, "acme-core")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "checked acme_core-1.2.0-py3-none-any.whl", "checked acme_core-1.2.0.tar.gz"]
    missing = _check(repo, "acme-text")
    assert missing.returncode == 1
    assert "no distributions of acme-text 1.0.0" in missing.stderr


def test_check_refuses_what_the_index_would(tmp_path: Path) -> None:
    from pubkit.testing import core_metadata, make_sdist, make_wheel

    repo = tmp_path / "monorepo"
    shutil.copytree(EXAMPLE, repo)
    dist = repo / "dist" / "acme-core"
    make_sdist(dist, "acme-core", "1.2.0")
    wheel = make_wheel(dist, "acme-core", "1.2.0", metadata=core_metadata("acme-other", "1.2.0"))
    result = _check(repo, "acme-core")
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {wheel.name}: the filename says project")
    bare = "Metadata-Version: 2.1\nName: acme-core\nVersion: 1.2.0\n\n"
    make_wheel(dist, "acme-core", "1.2.0", metadata=bare)  # no description: twine refuses
    result = _check(repo, "acme-core")
    assert result.returncode == 1
    assert "twine check --strict refused acme-core" in result.stderr


def test_test_command_uses_the_built_wheels(tmp_path: Path) -> None:
    repo = tmp_path / "monorepo"
    shutil.copytree(EXAMPLE, repo)
    broken = repo / "packages" / "acme-kafka" / "tests" / "test_envelope.py"
    broken.write_text(broken.read_text() + "\n\ndef test_broken() -> None:\n    assert False\n")
    subprocess.run([sys.executable, "-m", "pubkit", "build", "acme-core", "acme-text",
                    "acme-kafka", "--workspace", str(repo)],
                   check=True, capture_output=True, timeout=600)  # fmt: skip
    # acme-text needs acme-core, which is on no index: it must come from dist/.
    result = subprocess.run(
        [sys.executable, "-m", "pubkit", "test", "acme-text", "acme-kafka", "--workspace",
         str(repo)],
        capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("FAILED acme-kafka: ") and "1 failed" in lines[0]
    assert lines[1].startswith("passed acme-text: ") and "15 passed" in lines[1]
    assert result.stderr.startswith("error: tests failed for acme-kafka; see the JUnit reports")
    junit = (repo / "reports" / "acme-text.xml").read_text()
    assert 'tests="15"' in junit and 'failures="0"' in junit
