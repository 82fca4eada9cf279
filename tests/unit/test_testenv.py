"""The test step's pure parts: settings and their layers, poetry groups, requirements files,
the internal packages of a test venv; and the tester's decisions, with a fake runner."""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from pubkit.errors import ConfigurationError
from pubkit.releasing.adapters.index_client import FakeIndex, ProjectListing
from pubkit.releasing.adapters.process import CommandResult, FakeRunner
from pubkit.releasing.adapters.tester import (
    TestRequest,
    VenvTester,
    install_reason,
    pytest_summary,
)
from pubkit.releasing.core.testenv import (
    TestSettings,
    internal_closure,
    parse_requirement_lines,
    poetry_groups,
    poetry_specifier,
    settings_of,
)
from pubkit.releasing.core.workspace import package_from_pyproject, parse_config
from pubkit.releasing.testbed import TestSetupError, released_file


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [("^1.2.3", ">=1.2.3,<2"), ("^0.2.3", ">=0.2.3,<0.3"), ("^0.0.3", ">=0.0.3,<0.0.4"),
     ("~1.2.3", ">=1.2.3,<1.3"), ("~1", ">=1,<2"), ("1.2.*", "==1.2.*"), ("7.4.0", "==7.4.0"),
     (">=1 <2", ">=1,<2"), ("*", "")],
)  # fmt: skip
def test_poetry_constraints_in_pep_440(constraint: str, expected: str) -> None:
    assert poetry_specifier(constraint, "x") == expected


def test_poetry_groups_become_requirements() -> None:
    pyproject = {"tool": {"poetry": {"group": {"Test": {"dependencies": {
        "python": "^3.10", "pytest": "^8.0", "six": {"version": "^1.16", "extras": ["x"]},
        "acme-core": {"path": "../acme-core", "develop": True}}}}}}}  # fmt: skip
    groups = poetry_groups(pyproject, "p/pyproject.toml")
    assert [str(r) for r in groups["test"]] == ["pytest<9,>=8.0", "six[x]<2,>=1.16", "acme-core"]
    with pytest.raises(ConfigurationError, match="is a union"):
        poetry_specifier("^1 || ^2", "x")


def test_requirements_file_lines() -> None:
    text = "pytest>=7  # runner\n-e ../core\n./tools\n-r more.txt\n-c pins.txt\n\nsix \\\n>=1\n"
    paths = {"../core": "acme-core", "./tools": "acme-tools"}
    lines = parse_requirement_lines(text, "t.txt", paths.get)
    assert [str(r) for r in lines.requirements] == ["pytest>=7", "acme-core", "acme-tools",
                                                    "six>=1"]  # fmt: skip
    assert (lines.includes, lines.constraints) == (("more.txt",), ("pins.txt",))
    with pytest.raises(ConfigurationError, match=r"'\.\./elsewhere' is not a package"):
        parse_requirement_lines("-e ../elsewhere\n", "t.txt", paths.get)
    with pytest.raises(ConfigurationError, match="option '--index-url' is not supported"):
        parse_requirement_lines("--index-url https://x/\n", "t.txt", paths.get)


def test_settings_layers_default_package_own_then_workspace_override() -> None:
    config, warnings = parse_config({"test-extras": ["testing"], "test": {
        "command": "pytest -q", "packages": {"Acme_Core": {"skip": "needs a GPU"}}}})
    assert warnings == []
    own = {"project": {"name": "acme-core", "version": "1"},
           "tool": {"pubkit": {"test": {"folder": "test", "command": ["pytest", "-x"]}}}}
    core = package_from_pyproject(PurePosixPath("packages/core"), own)
    other = package_from_pyproject(PurePosixPath("packages/other"),
                                   {"project": {"name": "other", "version": "1"}})  # fmt: skip
    assert settings_of(config, core) == TestSettings(
        command=("pytest", "-x"), extras=("testing",), groups=("testing",),
        poetry_groups=("testing",), folder=PurePosixPath("test"), skip="needs a GPU")
    assert settings_of(config, other).command == ("pytest", "-q")
    with pytest.raises(ConfigurationError, match="skip must say why"):
        parse_config({"test": {"skip": True}})
    with pytest.raises(ConfigurationError, match="points outside the package"):
        parse_config({"test": {"folder": "../elsewhere"}})
    with pytest.raises(ConfigurationError, match="unknown key 'comand'"):
        parse_config({"test": {"comand": "pytest"}})


def test_internal_closure_follows_extras_and_markers() -> None:
    requirements = {
        ("app", frozenset()): ["core>=1", "click", "win-only; sys_platform == 'nowhere'"],
        ("core", frozenset()): [],
        ("core", frozenset({"aws"})): ["aws"],
        ("aws", frozenset()): ["core<3"],
    }

    def requirements_of(name: str, extras: frozenset[str]) -> list[Requirement]:
        found = list(requirements.get((name, frozenset()), []))
        for extra in extras:
            found += requirements.get((name, frozenset({extra})), [])
        return [Requirement(r) for r in found]

    roots = [Requirement("app"), Requirement("core[aws]>=1.2")]
    needs = internal_closure(roots, requirements_of, {"app", "core", "aws", "win-only"})
    assert sorted(needs) == ["app", "aws", "core"]
    assert needs["core"].specifier == SpecifierSet(">=1,>=1.2,<3")
    assert needs["core"].extras == frozenset({"aws"})


def test_released_file_takes_the_newest_admitted_version_verified(tmp_path: Path) -> None:
    wheel, sdist = b"wheel bytes", b"sdist bytes"
    files = {"acme_core-1.4.0-py3-none-any.whl": hashlib.sha256(wheel).hexdigest(),
             "acme_core-1.4.0.tar.gz": hashlib.sha256(sdist).hexdigest(),
             "acme_core-2.0.0-py3-none-any.whl": "0" * 64}  # fmt: skip
    from packaging.version import Version

    listing = ProjectListing(frozenset({Version("1.4.0"), Version("2.0.0")}), files,
                             {name: name for name in files})  # fmt: skip
    index = FakeIndex({"acme-core": listing}, {"acme_core-1.4.0-py3-none-any.whl": wheel})
    got = released_file(index, "http://i/", "acme-core", SpecifierSet("<2"), tmp_path)
    assert got.name == "acme_core-1.4.0-py3-none-any.whl" and got.read_bytes() == wheel
    with pytest.raises(TestSetupError, match=r"acme-core>=3 is needed .* \(it has 2.0.0, 1.4.0\)"):
        released_file(index, "http://i/", "acme-core", SpecifierSet(">=3"), tmp_path)
    with pytest.raises(TestSetupError, match="no index URL"):
        released_file(None, None, "acme-core", SpecifierSet(), tmp_path)


def request(tmp_path: Path, settings: TestSettings) -> TestRequest:
    package = tmp_path / "pkg"
    (package / "tests").mkdir(parents=True, exist_ok=True)
    (package / "tests" / "test_x.py").write_text("def test_x():\n    pass\n")
    (package / "acme").mkdir(exist_ok=True)  # the source: never copied
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return TestRequest("acme", package, settings, ("acme @ file:///w.whl",), (),
                       frozenset({"acme"}), "http://index/simple/", work / "junit.xml",
                       work)  # fmt: skip


def answer(match: str, returncode: int, stdout: str = "", stderr: str = "") -> object:
    def responder(command: tuple[str, ...]) -> CommandResult | None:
        if match in " ".join(command):
            return CommandResult(command, returncode, stdout, stderr, 0.0)
        return None

    return responder


def test_uv_makes_the_venv_and_the_tests_run_from_a_copy(tmp_path: Path) -> None:
    pytest = answer("-m pytest", 1, "x\n== 1 failed, 2 passed in 0.5s ==\n", "UserWarning: noise\n")
    runner = FakeRunner([pytest])  # type: ignore[list-item]
    tester = VenvTester(runner, python="/py", uv="/bin/uv")
    asked = request(tmp_path, TestSettings(command=("pytest", "-q")))
    # What "installing" put in the venv: the internal package's metadata is read back.
    for name, version in (("Acme", "1.0"), ("requests", "2.0")):
        info = asked.workdir / f"venv/lib/python3.99/site-packages/{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}")
    outcome = tester.test(asked)
    assert (outcome.passed, outcome.summary) == (False, "1 failed, 2 passed in 0.5s")
    assert outcome.tested_with == {"acme": "1.0"}
    venv_cmd, install, tests = runner.calls
    assert venv_cmd[:2] == ("/bin/uv", "venv")
    assert install[:3] == ("/bin/uv", "pip", "install")
    strategy = install.index("--index-strategy")
    assert install[strategy : strategy + 2] == ("--index-strategy", "first-index")
    assert install[-2:] == ("--extra-index-url", "http://index/simple/")
    assert tests[1:4] == ("-m", "pytest", "-q") and "--import-mode=importlib" in tests
    run = tmp_path / "work" / "run"
    assert (run / "tests" / "test_x.py").is_file() and not (run / "acme").exists()


def test_nothing_collected_fails_and_skip_runs_nothing(tmp_path: Path) -> None:
    runner = FakeRunner([answer("-m pytest", 5, "no tests ran in 0.01s\n")])  # type: ignore[list-item]
    outcome = VenvTester(runner, python="/py", uv="/bin/uv").test(request(tmp_path, TestSettings()))
    assert not outcome.passed
    assert outcome.summary.startswith("no tests collected (no tests ran in 0.01s)")
    skipped = VenvTester(FakeRunner(), uv="/bin/uv").test(
        request(tmp_path, TestSettings(skip="needs a GPU")))
    assert (skipped.passed, skipped.skipped, skipped.summary) == (True, True,
                                                                  "skipped: needs a GPU")


def test_without_uv_pip_installs_with_no_group_option(tmp_path: Path) -> None:
    runner = FakeRunner()
    VenvTester(runner, python="/py", uv=False).test(request(tmp_path, TestSettings()))
    install = runner.calls[0]
    assert install[:5] == ("/py", "-m", "pip", "--python", str(tmp_path / "work/venv/bin/python"))
    assert "--group" not in install


def test_install_failures_say_why_in_one_line() -> None:
    uv = CommandResult((), 1, "", "  \u00d7 No solution found when resolving dependencies:\n"
                       "  \u2570\u2500\u25b6 Because acme-core==1.0 ... unsatisfiable.\n",
                       0.0)  # fmt: skip
    assert install_reason(uv) == "Because acme-core==1.0 ... unsatisfiable."
    pip = CommandResult((), 1, "", "ERROR: Could not find a version\nhint\n", 0.0)
    assert install_reason(pip) == "ERROR: Could not find a version"
    warned = CommandResult((), 1, "1 failed in 2.0s\n", "DeprecationWarning: x\n", 0.0)
    assert pytest_summary(warned) == "1 failed in 2.0s"
