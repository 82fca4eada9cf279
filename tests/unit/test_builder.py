"""The builder's pieces that run no process: the environment pool, requirement keys, the one
line a failed build is reported with, and unpacking the sdist the wheel is built from."""

from __future__ import annotations

import io
import subprocess
import tarfile
import threading
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from pathlib import Path

import pytest
from build import BuildBackendException, BuildException

from pubkit.releasing.adapters.builder import (
    BuildError,
    EnvironmentPool,
    _unpack_sdist,
    _why,
    requirement_key,
)
from pubkit.releasing.adapters.process import CommandError, CommandResult

HATCHLING = requirement_key(["hatchling>=1.21"])
SETUPTOOLS = requirement_key(["setuptools>=69"])


class FakeEnv:
    """Stands for an isolated environment; ``users`` counts the builds holding it."""

    def __init__(self, number: int, requirements: frozenset[str]) -> None:
        self.number = number
        self.requirements = requirements
        self.users = 0


@pytest.fixture
def made() -> list[FakeEnv]:
    return []


@pytest.fixture
def pool(made: list[FakeEnv]) -> EnvironmentPool[FakeEnv]:
    numbers = count()

    def create(requirements: frozenset[str]) -> FakeEnv:
        env = FakeEnv(next(numbers), requirements)
        made.append(env)
        return env

    return EnvironmentPool(create)


def test_requirement_key_spells_each_requirement_one_way() -> None:
    assert requirement_key(["hatchling >= 1.21"]) == requirement_key(["hatchling>=1.21"])
    both = requirement_key(["setuptools>=69", "wheel"])
    assert both == requirement_key(["wheel", "setuptools >=69"])
    assert requirement_key([]) == frozenset()
    # Not a requirement: kept as written, for the installer to refuse with its reason.
    assert requirement_key(["not a requirement!"]) == frozenset({"not a requirement!"})


def test_builds_with_the_same_requirements_share_one_environment(
    pool: EnvironmentPool[FakeEnv], made: list[FakeEnv]
) -> None:
    with pool.lend(HATCHLING) as first:
        pass
    with pool.lend(requirement_key(["hatchling >= 1.21"])) as second:
        pass
    assert first is second
    assert len(made) == 1
    assert pool.made() == {HATCHLING: 1}


def test_other_requirements_get_their_own_environment(
    pool: EnvironmentPool[FakeEnv], made: list[FakeEnv]
) -> None:
    with pool.lend(HATCHLING) as hatchling:
        pass
    with pool.lend(SETUPTOOLS) as setuptools:
        pass
    with pool.lend(HATCHLING | requirement_key(["editables"])) as extended:
        pass
    assert len({id(hatchling), id(setuptools), id(extended)}) == 3
    assert [env.requirements for env in made] == [
        HATCHLING, SETUPTOOLS, HATCHLING | {"editables"}]  # fmt: skip


def test_an_environment_in_use_is_never_lent_twice(
    pool: EnvironmentPool[FakeEnv], made: list[FakeEnv]
) -> None:
    with pool.lend(HATCHLING) as outer, pool.lend(HATCHLING) as inner:
        assert outer is not inner
    with pool.lend(HATCHLING) as again:  # both idle now: one of them, no third
        assert again in (outer, inner)
    assert pool.made() == {HATCHLING: 2}


def test_concurrent_builds_hold_an_environment_each(
    pool: EnvironmentPool[FakeEnv], made: list[FakeEnv]
) -> None:
    workers = 4
    barrier = threading.Barrier(workers)
    overlaps: list[int] = []
    lock = threading.Lock()

    def build(i: int) -> None:
        barrier.wait()
        for _ in range(25):
            with pool.lend(HATCHLING if i % 2 else SETUPTOOLS) as env:
                with lock:
                    env.users += 1
                    overlaps.append(env.users)
                with lock:
                    env.users -= 1

    with ThreadPoolExecutor(workers) as executor:
        list(executor.map(build, range(workers)))
    assert set(overlaps) == {1}
    # Never more environments per set than builds that wanted it at once.
    assert all(number <= workers // 2 for number in pool.made().values())


def test_an_environment_that_could_not_be_made_is_not_kept() -> None:
    attempts: list[frozenset[str]] = []

    def create(requirements: frozenset[str]) -> FakeEnv:
        attempts.append(requirements)
        raise subprocess.CalledProcessError(1, ["uv", "pip", "install"])

    pool: EnvironmentPool[FakeEnv] = EnvironmentPool(create)
    for _ in range(2):
        with pytest.raises(subprocess.CalledProcessError), pool.lend(HATCHLING):
            pass
    assert attempts == [HATCHLING, HATCHLING]  # tried again, and said why again
    assert pool.made() == {}


def _failed(stderr: str) -> CommandResult:
    return CommandResult(("python", "_in_process.py", "build_wheel"), 1, "", stderr, 0.1)


def test_why_a_hook_failed_is_the_last_line_of_its_output() -> None:
    hook = CommandError("`python _in_process.py build_wheel` failed",
                        _failed("Traceback (most recent call last):\n  ...\n"
                                "ValueError: no version in pyproject.toml\n"))  # fmt: skip
    assert _why(BuildBackendException(hook)) == "ValueError: no version in pyproject.toml"


def test_why_the_installer_failed_is_the_last_line_of_its_output() -> None:
    install = subprocess.CalledProcessError(
        1, ["uv", "pip", "install"], output=b"",
        stderr=b"  x No solution found\n  `-> no-such-backend-xyz was not found\n",
    )  # fmt: skip
    assert _why(install) == "`-> no-such-backend-xyz was not found"
    silent = subprocess.CalledProcessError(2, ["uv", "pip", "install"], b"", b"")
    assert _why(silent) == "`uv pip install` exited with 2"


def test_why_anything_else_is_its_message_in_one_line() -> None:
    assert _why(BuildException("Source foo does not appear to be a Python project")) == (
        "Source foo does not appear to be a Python project")  # fmt: skip
    assert _why(OSError("first\nlast")) == "last"


def test_unpacking_the_sdist_gives_its_top_directory(tmp_path: Path) -> None:
    sdist = _sdist(tmp_path / "pkg-1.0.tar.gz", {"pkg-1.0/PKG-INFO": b"Name: pkg\n",
                                                 "pkg-1.0/src/pkg/__init__.py": b""})  # fmt: skip
    top = _unpack_sdist(sdist, tmp_path / "out")
    assert top == tmp_path / "out" / "pkg-1.0"
    assert (top / "src" / "pkg" / "__init__.py").is_file()


def test_an_sdist_with_two_top_directories_is_refused(tmp_path: Path) -> None:
    sdist = _sdist(tmp_path / "pkg-1.0.tar.gz", {"a/PKG-INFO": b"", "b/PKG-INFO": b""})
    with pytest.raises(BuildError, match="one top-level directory, not 2"):
        _unpack_sdist(sdist, tmp_path / "out")


def _sdist(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path
