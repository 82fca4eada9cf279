"""Writing versions and requirements back, keeping each file as its author wrote it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pubkit.errors import ConfigurationError
from pubkit.releasing.version_files import widen_requirements, write_version
from pubkit.releasing.workspace_files import load_workspace, read_version

PYPROJECT = """\
[project]
name = "acme-core"   # the shared core
version = "1.2.0"
dependencies = [
    "requests>=2",  # HTTP
    "acme-base[fast]>=1.0,<2; python_version >= '3.10'",
]

[project.optional-dependencies]
aws = ["acme-base>=1.0,<2"]
"""


def workspace(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "pyproject.toml").write_text('[tool.pubkit]\npackages = ["packages/*"]\n')
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_static_version_keeps_comments_and_layout(tmp_path: Path) -> None:
    root = workspace(tmp_path, {"packages/core/pyproject.toml": PYPROJECT})
    ws = load_workspace(root).workspace
    (changed,) = write_version(ws, ws.package("acme-core"), "1.3.0")
    assert changed.read_text() == PYPROJECT.replace('version = "1.2.0"', 'version = "1.3.0"')
    assert read_version(load_workspace(root).workspace,
                        load_workspace(root).workspace.package("acme-core")) == "1.3.0"


def test_a_rewritten_file_keeps_its_permissions(tmp_path: Path) -> None:
    root = workspace(tmp_path, {"packages/core/pyproject.toml": PYPROJECT})
    pyproject = root / "packages/core/pyproject.toml"
    pyproject.chmod(0o664)
    ws = load_workspace(root).workspace
    write_version(ws, ws.package("acme-core"), "1.3.0")
    assert pyproject.stat().st_mode & 0o777 == 0o664


def test_hatch_version_file(tmp_path: Path) -> None:
    about = '"""About."""\n\n__version__ = "0.4.0"  # bumped by pubkit\nAUTHOR = "x"\n'
    root = workspace(tmp_path, {
        "packages/kafka/pyproject.toml": (
            '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
            '[project]\nname = "acme-kafka"\ndynamic = ["version"]\n'
            '[tool.hatch.version]\npath = "src/acme_kafka/__about__.py"\n'
        ),
        "packages/kafka/src/acme_kafka/__about__.py": about,
    })
    ws = load_workspace(root).workspace
    package = ws.package("acme-kafka")
    assert read_version(ws, package) == "0.4.0"
    (changed,) = write_version(ws, package, "0.5.0.dev3")
    assert changed.read_text() == about.replace("0.4.0", "0.5.0.dev3")


def test_widened_requirements_keep_extras_markers_and_comments(tmp_path: Path) -> None:
    root = workspace(tmp_path, {"packages/core/pyproject.toml": PYPROJECT})
    ws = load_workspace(root).workspace
    path = widen_requirements(ws, ws.package("acme-core"), {"Acme_Base": "acme-base>=1.0,<3"})
    assert path is not None
    text = path.read_text()
    assert "\"acme-base[fast]>=1.0,<3; python_version >= '3.10'\"," in text
    assert 'aws = ["acme-base>=1.0,<3"]' in text
    assert '"requests>=2",  # HTTP' in text
    assert '# the shared core' in text


def test_nothing_to_widen_changes_nothing(tmp_path: Path) -> None:
    root = workspace(tmp_path, {"packages/core/pyproject.toml": PYPROJECT})
    ws = load_workspace(root).workspace
    assert widen_requirements(ws, ws.package("acme-core"), {"other": "other>=2"}) is None
    assert (root / "packages/core/pyproject.toml").read_text() == PYPROJECT


def test_vcs_versions_cannot_be_written(tmp_path: Path) -> None:
    root = workspace(tmp_path, {"packages/x/pyproject.toml": (
        '[project]\nname = "x"\ndynamic = ["version"]\n[tool.setuptools_scm]\n'
        '[build-system]\nrequires = ["setuptools", "setuptools-scm"]\n'
        'build-backend = "setuptools.build_meta"\n'
    )})
    ws = load_workspace(root).workspace
    with pytest.raises(ConfigurationError, match="from git tags"):
        write_version(ws, ws.package("x"), "1.0")
