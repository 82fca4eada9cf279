"""Testing the *built* wheel: a fresh virtualenv per package (made by uv when it is there,
else by ``venv`` and pip), the wheel and its test requirements installed from one
requirements file that pins every internal package to one exact file, the installed
versions read back, and the tests run from a copy of the test folder outside the source
tree with ``--import-mode=importlib``: what is imported is the installed wheel.

What goes into that requirements file is decided in :mod:`pubkit.releasing.testbed`.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import venv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pubkit.core.distributions import normalize_name
from pubkit.releasing.adapters.process import CommandResult, ProcessRunner, SubprocessRunner
from pubkit.releasing.core.testenv import DEFAULT_TEST_FOLDERS, TestSettings, is_pytest

INSTALL_TIMEOUT = 900.0
TEST_TIMEOUT = 3600.0
NO_TESTS_COLLECTED = 5  # pytest's exit status
# What pytest reads its configuration from, copied beside the test folder.
CONFIG_FILES = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg",
                "conftest.py")  # fmt: skip
_SUMMARY = re.compile(
    r"\b(\d+ (failed|passed|errors?|skipped|xfailed|xpassed|deselected)|no tests ran)\b"
    r".* in [\d.]+s"
)
_UV_REASON, _UV_ERROR = "\u2570\u2500\u25b6", "\u00d7"  # uv's arrow and cross


@dataclass(frozen=True)
class TestOutcome:
    __test__ = False  # not a pytest test class

    passed: bool
    junit: Path | None
    summary: str
    tested_with: Mapping[str, str] = field(default_factory=dict)  # internal name -> version
    skipped: bool = False


@dataclass(frozen=True)
class TestRequest:
    __test__ = False

    package: str  # normalized name
    package_dir: Path
    settings: TestSettings
    requirements: tuple[str, ...]  # lines of the requirements file the venv is made from
    constraints: tuple[str, ...]  # third-party constraints (from the package's own files)
    internal: frozenset[str]  # the workspace's package names, whose versions are reported
    index_url: str | None  # third-party packages: this index first (uv: first-index)
    junit: Path
    workdir: Path


def find_uv() -> str | None:
    """The uv binary: the ``uv`` Python package's, else one on PATH."""
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found,unused-ignore]

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def install_reason(result: CommandResult) -> str:
    """The line of an installer's output that says why it failed."""
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    # uv: "No solution found ...", then "Because ..." after an arrow (newer uv: "cause:")
    for line in lines:
        for mark in (_UV_REASON, "cause:"):
            if line.startswith(mark):
                return line.removeprefix(mark).strip()
    for line in lines:
        if line.startswith(("ERROR:", "error:", _UV_ERROR)):
            return line
    return result.last_line()


def pytest_summary(result: CommandResult) -> str:
    """pytest's own summary line ("1 failed, 2 passed in 0.12s"), not a warning."""
    for line in reversed(result.stdout.splitlines()):
        if _SUMMARY.search(line):
            return line.strip().strip("=").strip()
    return result.last_line().strip("= ")


class VenvTester:
    """One venv per test, by uv when ``uv`` is given (``None``: look for it), else by
    ``venv`` with this interpreter's pip driving it (``pip --python``)."""

    def __init__(
        self,
        runner: ProcessRunner | None = None,
        python: str = sys.executable,
        uv: str | bool | None = None,
    ):
        self.runner = runner or SubprocessRunner()
        self.python = python
        self.uv = find_uv() if uv is None or uv is True else (uv or None)

    def install_commands(self, request: TestRequest, env_dir: Path) -> list[list[str]]:
        requirements = request.workdir / "requirements.txt"
        sources: list[str] = ["-r", str(requirements)]
        if request.constraints:
            sources += ["-c", str(request.workdir / "constraints.txt")]
        target = str(env_dir / "bin" / "python")
        if self.uv:
            create = [self.uv, "venv", "--quiet", "--python", self.python, str(env_dir)]
            install = [self.uv, "pip", "install", "--quiet", "--python", target, *sources,
                       "--index-strategy", "first-index"]  # fmt: skip
        else:
            create = []
            install = [self.python, "-m", "pip", "--python", target, "install", "--quiet",
                       "--disable-pip-version-check", *sources]  # fmt: skip
        if request.index_url:
            # Before the installer's own default index; internal packages never come from
            # an index at all: the requirements file names their files.
            install += ["--extra-index-url", request.index_url]
        return [command for command in (create, install) if command]

    def test_command(self, request: TestRequest, env_dir: Path) -> list[str]:
        command = list(request.settings.command)
        if not is_pytest(request.settings.command):
            return command
        arguments = command[1:] if command[0] in ("pytest", "py.test") else command[3:]
        return [str(env_dir / "bin" / "python"), "-m", "pytest", *arguments,
                "--import-mode=importlib", "-p", "no:cacheprovider",
                f"--rootdir={request.workdir / 'run'}",
                f"--junitxml={request.junit}"]  # fmt: skip

    def test(self, request: TestRequest) -> TestOutcome:
        settings = request.settings
        if settings.skip:
            return TestOutcome(True, None, f"skipped: {settings.skip}", skipped=True)
        run = request.workdir / "run"
        folder = _copy_tests(request.package_dir, settings, run)
        cwd = run / settings.working_directory if settings.working_directory else run
        if not cwd.is_dir():
            return TestOutcome(False, None, f"working-directory {settings.working_directory} is"
                               " not in the copied tests; it is relative to the package and"
                               " must be the test folder or inside it")  # fmt: skip
        if folder is None and settings.runs_pytest:
            looked = ", ".join(f"{f}/" for f in ((settings.folder,) if settings.folder
                                                 else DEFAULT_TEST_FOLDERS))  # fmt: skip
            return TestOutcome(False, None, f"no test folder ({looked}) in {request.package_dir};"
                               " add tests, set [tool.pubkit.test] folder, or skip = \"why\"")
        (request.workdir / "requirements.txt").write_text("\n".join(request.requirements) + "\n")
        (request.workdir / "constraints.txt").write_text("\n".join(request.constraints) + "\n")
        env_dir = request.workdir / "venv"
        if not self.uv:
            venv.create(env_dir, with_pip=False, clear=True)
        for command in self.install_commands(request, env_dir):
            done = self.runner.run(command, cwd=request.workdir, timeout=INSTALL_TIMEOUT,
                                   check=False)  # fmt: skip
            if not done.ok:
                return TestOutcome(False, None, f"installing the built wheel failed:"
                                   f" {install_reason(done)}")  # fmt: skip
        tested_with = self._internal_versions(env_dir, request.internal)
        request.junit.parent.mkdir(parents=True, exist_ok=True)
        request.junit.unlink(missing_ok=True)
        env = {"PATH": f"{env_dir / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
               "VIRTUAL_ENV": str(env_dir), "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONPATH": None}  # fmt: skip
        result = self.runner.run(self.test_command(request, env_dir), cwd=cwd, env=env,
                                 timeout=TEST_TIMEOUT, check=False)  # fmt: skip
        junit = request.junit if request.junit.is_file() else None
        summary = pytest_summary(result) if settings.runs_pytest else result.last_line()
        if settings.runs_pytest and result.returncode == NO_TESTS_COLLECTED:
            return TestOutcome(False, junit, f"no tests collected ({summary}): a test command"
                               " must run tests", tested_with)  # fmt: skip
        return TestOutcome(result.ok, junit, summary, tested_with)

    def _internal_versions(self, env_dir: Path, internal: frozenset[str]) -> dict[str, str]:
        """The internal packages installed in the venv, read from its site-packages here (a
        process of the venv's interpreter per package cost more than the reading)."""
        from importlib.metadata import distributions

        places = [str(path) for pattern in ("lib/python*/site-packages", "Lib/site-packages")
                  for path in sorted(env_dir.glob(pattern))]  # fmt: skip
        installed = {}
        for found in distributions(path=places):
            name = found.metadata["Name"]
            if name and normalize_name(name) in internal:
                installed[normalize_name(name)] = found.version
        return dict(sorted(installed.items()))


def _copy_tests(package_dir: Path, settings: TestSettings, run: Path) -> PurePosixPath | None:
    """Copy the test folder and pytest's configuration files into ``run``: no source of the
    package is there, so the only one to import is the installed wheel."""
    run.mkdir(parents=True, exist_ok=True)
    for name in CONFIG_FILES:
        if (package_dir / name).is_file():
            shutil.copy2(package_dir / name, run / name)
    candidates = (settings.folder,) if settings.folder else DEFAULT_TEST_FOLDERS
    for folder in candidates:
        if (package_dir / folder).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache")
            shutil.copytree(package_dir / folder, run / folder, symlinks=True, ignore=ignore)
            return folder
    return None


def matching_names(requested: Iterable[str], available: Iterable[str]) -> tuple[str, ...]:
    """The normalized names among ``requested`` that ``available`` (normalized) holds."""
    names = set(available)
    return tuple(dict.fromkeys(n for n in map(normalize_name, requested) if n in names))
