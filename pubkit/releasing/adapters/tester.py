"""Testing the *built* wheel: a fresh virtualenv per package, the wheel installed with its test
extras, the package's tests run from outside its source tree, a JUnit XML file per package."""

from __future__ import annotations

import os
import sys
import venv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pubkit.releasing.adapters.process import ProcessRunner, SubprocessRunner

INSTALL_TIMEOUT = 900.0
TEST_TIMEOUT = 3600.0
NO_TESTS_COLLECTED = 5  # pytest's exit status


@dataclass(frozen=True)
class TestOutcome:
    __test__ = False  # not a pytest test class

    passed: bool
    junit: Path
    summary: str


@dataclass(frozen=True)
class TestRequest:
    __test__ = False

    package_dir: Path
    wheel: Path
    extras: tuple[str, ...]  # the package's extras among the configured test extras
    groups: tuple[str, ...]  # the same for PEP 735 dependency groups
    find_links: tuple[Path, ...]  # local dist dirs: unreleased internal dependencies
    index_url: str | None  # the private index: released internal dependencies
    command: tuple[str, ...]
    junit: Path
    workdir: Path


class VenvTester:
    def __init__(self, runner: ProcessRunner | None = None, python: str = sys.executable):
        self.runner = runner or SubprocessRunner()
        self.python = python

    def install_command(self, request: TestRequest, target: Path) -> list[str]:
        extras = f"[{','.join(request.extras)}]" if request.extras else ""
        args = [self.python, "-m", "pip", "--python", str(target), "install", "--quiet",
                "--disable-pip-version-check", f"{request.wheel}{extras}"]  # fmt: skip
        for group in request.groups:
            args += ["--group", f"{request.package_dir / 'pyproject.toml'}:{group}"]
        for directory in request.find_links:
            args += ["--find-links", str(directory)]
        if request.index_url:
            # An extra index, so third-party packages still come through the usual config.
            args += ["--extra-index-url", request.index_url]
        return args

    def test_command(self, request: TestRequest, target: Path) -> list[str]:
        command = list(request.command)
        if command and command[0] == "pytest":
            command = [str(target), "-m", "pytest", *command[1:]]
            tests = request.package_dir / "tests"
            if len(request.command) == 1 and tests.is_dir():
                command.append(str(tests))
            command += ["-p", "no:cacheprovider", f"--junitxml={request.junit}"]
        return command

    def test(self, request: TestRequest) -> TestOutcome:
        env_dir = request.workdir / "venv"
        venv.create(env_dir, with_pip=False, clear=True)
        python = env_dir / "bin" / "python"
        installed = self.runner.run(self.install_command(request, python), timeout=INSTALL_TIMEOUT,
                                    check=False)  # fmt: skip
        if not installed.ok:
            return TestOutcome(
                False, request.junit, f"installing the built wheel failed: {installed.last_line()}"
            )
        request.junit.parent.mkdir(parents=True, exist_ok=True)
        env = {"PATH": f"{env_dir / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
               "VIRTUAL_ENV": str(env_dir), "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
        # From the work dir, not the source tree: imports must find the installed wheel.
        result = self.runner.run(self.test_command(request, python), cwd=request.workdir,
                                 env=env, timeout=TEST_TIMEOUT, check=False)  # fmt: skip
        summary = result.last_line().strip("= ")  # pytest frames it in "=" rules
        if result.returncode == NO_TESTS_COLLECTED:
            return TestOutcome(True, request.junit, f"no tests collected ({summary})")
        return TestOutcome(result.ok, request.junit, summary)


def matching(requested: Sequence[str], available: Sequence[str]) -> tuple[str, ...]:
    from pubkit.core.distributions import normalize_name

    names = {normalize_name(name) for name in available}
    return tuple(name for name in requested if normalize_name(name) in names)
