"""The test step of `pubkit release` on generated monorepos shaped like the ones teams have:
it tests exactly the release set, from the installed wheel; cycles through extras and groups
order what they can; test-only dependencies never block; test settings per package."""

from __future__ import annotations

import json
import sysconfig
import textwrap
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from pubkit.testing import LiveServer, make_sdist, make_wheel
from tests.e2e.releasing import git, init_repo, pubkit_release
from tests.e2e.support import twine_upload

pytestmark = pytest.mark.e2e

HATCH = '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'


def package(repo: Path, name: str, pyproject: str, files: dict[str, str]) -> None:
    """``packages/NAME`` with ``pyproject`` (after the hatchling build-system) and ``files``."""
    root = repo / "packages" / name
    root.mkdir(parents=True, exist_ok=True)
    (root / "README.md").write_text(f"# {name}\n\nA package of the e2e monorepo.\n")
    project = (f'[project]\nname = "{name}"\nversion = "1.0.0"\ndescription = "{name}"\n'
               'readme = "README.md"\n')  # fmt: skip
    (root / "pyproject.toml").write_text(HATCH + project + textwrap.dedent(pyproject))
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(textwrap.dedent(text))


def root_config(repo: Path, extra: str = "") -> None:
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "pyproject.toml").write_text(
        '[tool.pubkit]\npackages = ["packages/*"]\n' + textwrap.dedent(extra)
    )


def result_of(repo: Path, server: LiveServer, tmp: Path, *args: str) -> dict[str, Any]:
    out = tmp / "result.json"
    done = pubkit_release(repo, server, "--json", str(out), *args)
    document: dict[str, Any] = json.loads(out.read_text())
    document["_output"] = done.stdout + done.stderr
    document["packages_by_name"] = {p["name"]: p for p in document["packages"]}
    return document


def step(package: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in package["steps"] if s["step"] == name)


def test_tests_run_against_the_release_set_and_import_the_wheel(
    server: LiveServer, tmp_path: Path
) -> None:
    """A src-less package with tests/__init__.py imports the installed wheel, and its
    dependency is the 1.0.0 this release builds, although the index has a 99.0."""
    repo = tmp_path / "repo"
    root_config(repo)
    package(repo, "rs-core", """\
        [project.optional-dependencies]
        test = ["pytest"]
        """, {"src/rs_core/__init__.py": 'ORIGIN = "the workspace"\n',
              "tests/test_core.py": "def test_nothing_much():\n    assert True\n"})  # fmt: skip
    package(repo, "rs-flat", """\
        dependencies = ["rs-core>=1.0"]
        [project.optional-dependencies]
        test = ["pytest"]
        [tool.hatch.build.targets.wheel]
        packages = ["rs_flat"]
        """, {"rs_flat/__init__.py": "import rs_core\n\nORIGIN = rs_core.ORIGIN\n",
              "tests/__init__.py": "",
              "tests/test_flat.py": """\
                  import sysconfig
                  from pathlib import Path

                  import rs_flat


                  def test_the_installed_wheel_is_imported(record_property):
                      record_property("imported_from", rs_flat.__file__)
                      site = Path(sysconfig.get_paths()["purelib"]).resolve()
                      assert Path(rs_flat.__file__).resolve().is_relative_to(site)
                      assert rs_flat.ORIGIN == "the workspace"
                  """})  # fmt: skip
    package(repo, "rs-app", """\
        dependencies = ["rs-core>=1.0"]
        [project.optional-dependencies]
        test = ["pytest"]
        """, {"src/rs_app/__init__.py": "",
              "tests/test_app.py": "import rs_core\n\n\ndef test_core():\n"
                                   "    assert rs_core.ORIGIN == 'the workspace'\n"})  # fmt: skip
    init_repo(repo)
    # Someone published a higher version of the internal name on the configured index.
    impostor = tmp_path / "impostor"
    files = [make_sdist(impostor, "rs-core", "99.0"),
             make_wheel(impostor, "rs-core", "99.0",
                        modules={"rs_core/__init__.py": 'ORIGIN = "an impostor"\n'})]  # fmt: skip
    assert twine_upload(server, files, "alice").returncode == 0

    document = result_of(repo, server, tmp_path)
    packages = document["packages_by_name"]
    assert document["ok"], document["_output"]
    assert packages["rs-flat"]["tested_with"] == {"rs-core": "1.0.0", "rs-flat": "1.0.0"}
    assert packages["rs-core"]["tested_with"] == {"rs-core": "1.0.0"}
    assert packages["rs-app"]["tested_with"] == {"rs-app": "1.0.0", "rs-core": "1.0.0"}
    junit = ElementTree.parse(repo / "reports" / "rs-flat.xml").getroot()  # noqa: S314 - ours
    [imported] = [p.get("value") for p in junit.iter("property")
                  if p.get("name") == "imported_from"]  # fmt: skip
    assert imported is not None and "site-packages" in imported
    assert not Path(imported).resolve().is_relative_to(repo.resolve())
    assert sysconfig.get_paths()["purelib"] not in imported  # a venv of its own


def test_cycles_through_extras_and_groups_and_a_failing_test_only_dependency(
    server: LiveServer, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    root_config(repo)
    test_file = {"tests/test_it.py": "def test_it():\n    assert True\n"}
    package(repo, "cy-core", '[project.optional-dependencies]\ntest = ["pytest"]\n', test_file)
    package(repo, "cy-config", 'dependencies = ["cy-core>=1.0"]\n'
            '[project.optional-dependencies]\ntest = ["pytest"]\n', test_file)  # fmt: skip
    package(repo, "cy-tools", 'dependencies = ["cy-core>=1.0"]\n'
            '[project.optional-dependencies]\ntest = ["pytest"]\n', test_file)  # fmt: skip
    package(repo, "cy-app", 'dependencies = ["cy-core>=1.0"]\n'
            '[project.optional-dependencies]\ntest = ["pytest", "cy-tools"]\n',
            {"tests/test_app.py": "import cy_tools\n\n\ndef test_app():\n    assert cy_tools\n"})
    for name in ("cy-core", "cy-config", "cy-tools", "cy-app"):
        module = repo / "packages" / name / "src" / name.replace("-", "_") / "__init__.py"
        module.parent.mkdir(parents=True)
        module.write_text("")
    init_repo(repo)
    first = result_of(repo, server, tmp_path)
    assert first["ok"], first["_output"]

    # Later the core grows an extra that needs cy-config and a test group that needs
    # cy-tools, both of which need the core: two cycles, neither of runtime requirements.
    core = repo / "packages" / "cy-core" / "pyproject.toml"
    core.write_text(core.read_text().replace(
        'test = ["pytest"]\n', 'test = ["pytest"]\nfile-configuration = ["cy-config"]\n'
    ) + '[dependency-groups]\ntest = ["pytest", "cy-tools"]\n')  # fmt: skip
    # and a change breaks cy-tools' tests: cy-app needs it only for its own tests.
    (repo / "packages/cy-tools/tests/test_it.py").write_text("def test_it():\n    assert 0\n")
    (repo / "packages/cy-app/src/cy_app/__init__.py").write_text("X = 1\n")
    git(repo, "commit", "-qam", "fix: cycles")
    second = result_of(repo, server, tmp_path, "--bump", "patch")
    packages = second["packages_by_name"]
    assert "error" not in second, second["error"]  # main: "dependency cycle: ..."
    assert second["notes"] == [
        "cy-core -> cy-config (extra 'file-configuration') closes a cycle, so it does not order"
        " the release: cy-core's tests use the cy-config already on the index",
        "cy-core -> cy-tools (dependency group 'test') closes a cycle, so it does not order"
        " the release: cy-core's tests use the cy-tools already on the index",
    ], second["_output"]
    statuses = {name: p["status"] for name, p in packages.items()}
    # cy-config did not change and its range admits cy-core 1.0.1: nothing to release.
    assert statuses == {"cy-core": "released", "cy-config": "skipped", "cy-tools": "failed",
                        "cy-app": "released"}, second["_output"]  # fmt: skip
    assert packages["cy-tools"]["reason"].startswith("test: tests failed: 1 failed")
    # cy-core's test group got the cy-tools already released; cy-app's too, as its own
    # cy-tools did not release; both ran against the cy-core 1.0.1 this release built.
    assert packages["cy-core"]["tested_with"] == {"cy-core": "1.0.1", "cy-tools": "1.0.0"}
    assert packages["cy-app"]["tested_with"] == {"cy-app": "1.0.1", "cy-core": "1.0.1",
                                                 "cy-tools": "1.0.0"}  # fmt: skip
    assert second["exit_code"] == 1


def test_test_settings_per_package(server: LiveServer, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    root_config(repo, """\
        [tool.pubkit.test]
        command = "pytest -q"

        [tool.pubkit.test.packages.ts-req]
        requirements = ["test-requirements.txt"]

        [tool.pubkit.test.packages.ts-skip]
        skip = "needs a GPU"
        """)  # fmt: skip
    six_test = ("import six\n\n\ndef test_six():\n    assert six.PY3\n\n\n"
                "def test_two():\n    pass\n")
    package(repo, "ts-base", "", {"src/ts_base/__init__.py": "", "tests/test_b.py": six_test})
    (repo / "packages/ts-base/pyproject.toml").write_text(
        (repo / "packages/ts-base/pyproject.toml").read_text()
        + '[tool.pubkit.test]\nrequirements = ["requirements/test.txt"]\n'
    )
    (repo / "packages/ts-base/requirements").mkdir()
    (repo / "packages/ts-base/requirements/test.txt").write_text("pytest\nsix>=1.10\n")
    # OTel-like: test dependencies in a requirements file (a sibling package by path), the
    # tests in test/ (sqlfluff-like).
    package(repo, "ts-req", "", {"src/ts_req/__init__.py": "", "test/test_r.py": six_test,
                                 "test-requirements.txt": "pytest>=7  # runner\n-e ../ts-base\n"
                                 "-r more-requirements.txt\n",
                                 "more-requirements.txt": "six\n"})  # fmt: skip
    # presidio-like: a poetry group.
    package(repo, "ts-poetry", """\
        [tool.poetry.group.test.dependencies]
        pytest = ">=7"
        six = "^1.10"
        """, {"src/ts_poetry/__init__.py": "", "tests/test_p.py": six_test})  # fmt: skip
    package(repo, "ts-skip", "", {"src/ts_skip/__init__.py": "",
                                  "tests/test_s.py": "def test_s():\n    assert 0\n"})  # fmt: skip
    package(repo, "ts-empty", '[dependency-groups]\ntest = ["pytest"]\n',
            {"src/ts_empty/__init__.py": "", "tests/test_e.py": "X = 1\n"})  # fmt: skip
    package(repo, "ts-fails", '[dependency-groups]\ntest = ["pytest"]\n', {
        "src/ts_fails/__init__.py": "",
        "tests/conftest.py": "import sys\nsys.stderr.write('DeprecationWarning: old stuff\\n')\n",
        "tests/test_f.py": "def test_f():\n    assert 0\n\n\ndef test_g():\n    pass\n"})
    init_repo(repo)
    document = result_of(repo, server, tmp_path)
    packages = document["packages_by_name"]
    statuses = {name: p["status"] for name, p in packages.items()}
    assert statuses == {"ts-base": "released", "ts-req": "released", "ts-poetry": "released",
                        "ts-skip": "released", "ts-empty": "failed", "ts-fails": "failed"}, (
        document["_output"])  # fmt: skip
    for name in ("ts-base", "ts-req", "ts-poetry"):
        assert step(packages[name], "test")["detail"].startswith("2 passed in "), name
    assert packages["ts-req"]["tested_with"] == {"ts-base": "1.0.0", "ts-req": "1.0.0"}
    assert step(packages["ts-skip"], "test")["detail"] == "skipped: needs a GPU"
    assert packages["ts-empty"]["reason"].startswith("test: tests failed: no tests collected (")
    assert packages["ts-fails"]["reason"].startswith("test: tests failed: 1 failed, 1 passed in ")
