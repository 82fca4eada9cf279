"""`pubkit init` in a real process, on copies of the example monorepo and made-up layouts.

Every config it writes must load with no warning, and `pubkit plan` must work on it.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pubkit.releasing.workspace_files import load_workspace

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "monorepo"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x"}  # fmt: skip


def pubkit(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pubkit", *(str(a) for a in args)],
        cwd=cwd, env={**os.environ, "NO_COLOR": "1", **(env or {})},
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def init(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    """``pubkit init`` that must succeed; its stdout."""
    result = pubkit("init", *args, cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, env={**os.environ, **GIT_ENV, "HOME": str(repo)},
                   check=True, capture_output=True)  # fmt: skip


def loaded_cleanly(root: Path) -> list[str]:
    """The package paths pubkit loads at ``root``, asserting there is no warning."""
    loaded = load_workspace(root)
    assert loaded.warnings == ()
    return [str(p.path) for p in loaded.workspace.packages]


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def project(name: str, *deps: str, group: str | None = None) -> str:
    requirements = ", ".join(f'"{dep}"' for dep in deps)
    text = f'[project]\nname = "{name}"\nversion = "0.1.0"\ndependencies = [{requirements}]\n'
    if group:
        text += f'\n[dependency-groups]\n{group} = ["pytest"]\n'
    return text


def pubkit_table(path: Path) -> dict[str, object]:
    table: dict[str, object] = tomllib.loads(path.read_text())["tool"]["pubkit"]
    return table


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of examples/monorepo whose root pyproject.toml keeps its comments only."""
    root = tmp_path / "monorepo"
    shutil.copytree(EXAMPLE, root)
    pyproject = root / "pyproject.toml"
    header, _, _ = pyproject.read_text().partition("[tool.pubkit]")
    assert header.startswith("# ")
    pyproject.write_text(header)
    return root


def test_init_on_the_example_then_plan(example: Path, tmp_path: Path) -> None:
    header = (example / "pyproject.toml").read_text()
    out = init("-C", "monorepo", cwd=tmp_path).splitlines()
    assert out[0] == "wrote [tool.pubkit] to monorepo/pyproject.toml"
    assert out[1] == "4 packages, dependencies first:"
    listed = [line.split() for line in out[2:6]]
    assert listed[0] == ["acme-core", "packages/acme-core"]
    assert sorted(listed[1:]) == [
        ["acme-aws", "packages/acme-aws"],
        ["acme-kafka", "packages/acme-kafka"],
        ["acme-text", "packages/acme-text"],
    ]
    assert out[6:] == ["next: pubkit plan -C monorepo"]

    text = (example / "pyproject.toml").read_text()
    assert text.startswith(header)  # the comments above it survive, unchanged
    assert pubkit_table(example / "pyproject.toml") == {
        "packages": ["packages/*"],
        "tag-format": "{name}-v{version}",
        "version-strategy": "manual",
        "test-command": "pytest",
        "test-extras": ["test"],
    }
    assert loaded_cleanly(example) == [
        "packages/acme-aws",
        "packages/acme-core",
        "packages/acme-kafka",
        "packages/acme-text",
    ]

    git(example, "init", "-q", "-b", "main")
    git(example, "add", ".")
    git(example, "commit", "-q", "-m", "feat: initial")
    plan = pubkit("plan", "--json", "-C", example, cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert plan.stderr == ""
    names = [p["name"] for p in json.loads(plan.stdout)["packages"]]
    assert names[0] == "acme-core"
    assert sorted(names) == sorted(name for name, _ in listed)


def test_init_keeps_an_existing_pyproject(tmp_path: Path) -> None:
    original = (
        "# The monorepo's own tooling; its packages live under libs/.\n"
        "[project]\n"
        'name = "monorepo-tools"   # not released\n'
        'version = "0"\n'
        "\n"
        "[tool.ruff]\n"
        "line-length = 100\n"
        "\n"
        "[tool.ruff.lint]\n"
        'select = ["E", "F"]  # errors first\n'
        "\n"
        "[build-system]\n"
        "requires = ['setuptools']\n"
    )
    write(tmp_path, "pyproject.toml", original)
    write(tmp_path, "libs/core/pyproject.toml", project("acme-core", group="test"))
    write(tmp_path, "libs/web/pyproject.toml", project("acme-web", "acme-core"))
    write(tmp_path, "libs/docs/pyproject.toml", "[tool.mkdocs]\n")  # a sibling, no [project]
    write(tmp_path, "services/api/pyproject.toml", project("acme-api", "acme-web"))

    out = init(cwd=tmp_path)
    assert out.splitlines()[-1] == "next: pubkit plan"
    text = (tmp_path / "pyproject.toml").read_text()
    removed = [line for line in difflib.ndiff(original.splitlines(), text.splitlines())
               if line.startswith("- ")]  # fmt: skip
    assert removed == []
    # Next to the other tool tables, before [build-system].
    assert text.index("[tool.ruff.lint]") < text.index("[tool.pubkit]") < text.index("[build")
    table = pubkit_table(tmp_path / "pyproject.toml")
    assert table["packages"] == ["libs/core", "libs/web", "services/*"]
    assert table["test-extras"] == ["test"]
    assert loaded_cleanly(tmp_path) == ["services/api", "libs/core", "libs/web"]
    assert out.index("acme-core") < out.index("acme-web") < out.index("acme-api")


def test_init_writes_pubkit_toml(example: Path) -> None:
    pyproject = (example / "pyproject.toml").read_bytes()
    out = init("--pubkit-toml", "--version-strategy", "conventional", cwd=example)
    assert out.startswith("wrote pubkit.toml to pubkit.toml\n")
    assert (example / "pyproject.toml").read_bytes() == pyproject
    config = tomllib.loads((example / "pubkit.toml").read_text())
    assert config["packages"] == ["packages/*"]
    assert config["version-strategy"] == "conventional"
    assert len(loaded_cleanly(example)) == 4


def test_init_without_a_root_pyproject(example: Path) -> None:
    (example / "pyproject.toml").unlink()
    init("--tag-format", "{name}@{version}", cwd=example)
    assert pubkit_table(example / "pyproject.toml")["tag-format"] == "{name}@{version}"
    assert len(loaded_cleanly(example)) == 4


@pytest.mark.parametrize("standalone", [False, True])
def test_dry_run_writes_nothing(example: Path, standalone: bool) -> None:
    before = snapshot(example)
    flags = ["--pubkit-toml"] if standalone else []
    result = pubkit("init", "--dry-run", *flags, cwd=example)
    assert result.returncode == 0, result.stderr
    assert snapshot(example) == before
    printed = tomllib.loads(result.stdout)  # stdout is the TOML alone
    table = printed if standalone else printed["tool"]["pubkit"]
    assert table["packages"] == ["packages/*"]
    assert "would write" in result.stderr and "nothing written" in result.stderr


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("pyproject.toml", '[tool.pubkit]\npackages = ["packages/*"]\n', "[tool.pubkit]"),
        ("pubkit.toml", 'packages = ["packages/*"]\n', "pubkit.toml"),
    ],
)
def test_an_existing_config_needs_force(example: Path, name: str, text: str, where: str) -> None:
    (example / name).write_text(text)
    before = snapshot(example)
    for flags in ([], ["--pubkit-toml"], ["--dry-run"]):
        result = pubkit("init", *flags, cwd=example)
        assert result.returncode == 2, result.stderr
        (line,) = result.stderr.splitlines()
        assert line.startswith("error: ") and where in line and "--force" in line
        assert snapshot(example) == before

    out = init("--force", cwd=example)
    assert f"replaced {where}" in out
    assert not (example / "pubkit.toml").exists()  # it would hide the new table
    assert pubkit_table(example / "pyproject.toml")["tag-format"] == "{name}-v{version}"
    assert len(loaded_cleanly(example)) == 4


def test_force_moves_the_config_to_pubkit_toml(example: Path) -> None:
    header = (example / "pyproject.toml").read_text()
    init(cwd=example)
    out = init("--force", "--pubkit-toml", cwd=example)
    assert "replaced [tool.pubkit] in pyproject.toml" in out
    assert (example / "pyproject.toml").read_text() == header
    assert (example / "pubkit.toml").is_file()
    assert len(loaded_cleanly(example)) == 4


@pytest.mark.parametrize("content", [{}, {"tools/pyproject.toml": "[tool.black]\n"}])
def test_no_package_is_an_error(tmp_path: Path, content: dict[str, str]) -> None:
    for relative, text in content.items():
        write(tmp_path, relative, text)
    result = pubkit("init", cwd=tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: no package found under ")
    assert "pyproject.toml" in line and "[project]" in line
    assert not (tmp_path / "pyproject.toml").exists()


def test_index_url_from_the_option_or_the_environment(example: Path) -> None:
    init("--index-url", "https://pypi.example.com/simple/", cwd=example)
    assert pubkit_table(example / "pyproject.toml")["index-url"] == (
        "https://pypi.example.com/simple/"
    )
    init("--force", cwd=example, env={"PUBKIT_INDEX_URL": "https://env.example.com/simple/"})
    assert pubkit_table(example / "pyproject.toml")["index-url"] == (
        "https://env.example.com/simple/"
    )
    assert len(loaded_cleanly(example)) == 4


def test_an_index_url_with_a_password_is_refused(example: Path) -> None:
    before = snapshot(example)
    result = pubkit("init", "--index-url", "https://ci:s3cret@pypi.example.com/simple/",
                    cwd=example)  # fmt: skip
    assert result.returncode == 2
    assert "password" in result.stderr and "s3cret" not in result.stderr
    assert snapshot(example) == before


def test_a_bad_option_is_a_usage_error(example: Path) -> None:
    result = pubkit("init", "--version-strategy", "calver", cwd=example)
    assert result.returncode == 2
    assert result.stderr == (
        "error: --version-strategy 'calver' is unknown; use one of manual, bump, conventional\n"
    )
