"""Building distributions with pypa ``build``: the sdist first, then the wheel from the sdist,
so that what is tested and published is what a user of the sdist would build.

We drive ``build``'s library API rather than one ``python -m build`` per package. Making an
isolated build environment (a venv plus an installer run) is most of what building a small
package costs, and ``python -m build`` makes two per package, one for the sdist and one for
the wheel. A :class:`PypaBuilder` keeps the environments it made and lends each one to every
later build that needs exactly the same build requirements (``[build-system] requires`` plus
what the backend asks for through ``get_requires_for_build_*``), one build at a time.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Generic, Literal, Protocol, TypeVar

import pyproject_hooks
from build import BuildBackendException, BuildException, ProjectBuilder

from pubkit.core.distributions import parse_distribution_filename
from pubkit.errors import PubkitError
from pubkit.releasing.adapters.process import CommandError, ProcessRunner, SubprocessRunner

BUILD_TIMEOUT = 900.0  # for one backend hook (building an sdist or a wheel)
INSTALL_TIMEOUT = 900.0  # for installing one environment's build requirements

Distribution = Literal["sdist", "wheel"]
Requirements = frozenset[str]

# pyproject_hooks (1.2 and later) re-issues the backend's warnings in our process, where they
# would land in the middle of pubkit's output. `python -m build` kept them in its own output,
# which pubkit showed only the last line of, on failure; they stay out of sight here too.
_BACKEND_WARNING: type[Warning] | None = getattr(pyproject_hooks, "BuildBackendWarning", None)
if _BACKEND_WARNING is not None:
    warnings.filterwarnings("ignore", category=_BACKEND_WARNING)


class BuildError(PubkitError):
    """A package that did not build."""


@dataclass(frozen=True)
class BuiltDistributions:
    sdist: Path
    wheel: Path

    @property
    def files(self) -> tuple[Path, Path]:
        return (self.sdist, self.wheel)


class Builder(Protocol):
    def build(
        self, package_dir: Path, out_dir: Path, name: str, env: Mapping[str, str] | None = None
    ) -> BuiltDistributions: ...


# The environment of the build under way in this thread (its backend hooks read it): the
# version a VCS-versioned package is told to build as.
_NO_ENV: Mapping[str, str] = MappingProxyType({})
_BUILD_ENV: ContextVar[Mapping[str, str]] = ContextVar("pubkit_build_env", default=_NO_ENV)


def uv_available() -> bool:
    return importlib.util.find_spec("uv") is not None or shutil.which("uv") is not None


def requirement_key(requirements: Iterable[str]) -> Requirements:
    """The requirements, each in one spelling, so that ``hatchling >= 1.21`` and
    ``hatchling>=1.21`` share an environment."""
    from packaging.requirements import InvalidRequirement, Requirement

    key = set()
    for text in requirements:
        try:
            key.add(str(Requirement(text)))
        except InvalidRequirement:
            key.add(text.strip())  # the installer will say what is wrong with it
    return frozenset(key)


Env = TypeVar("Env")


class EnvironmentPool(Generic[Env]):
    """Build environments by requirement set, each lent to one build at a time.

    A build borrows an idle environment made for exactly its requirements, or a new one when
    none is idle: concurrent builds never share an environment, and sequential builds of
    packages with the same build requirements share one. An environment that could not be
    made is not kept (the next build that needs it tries again and says why it failed).
    """

    def __init__(self, create: Callable[[Requirements], Env]) -> None:
        self._create = create
        self._idle: dict[Requirements, list[Env]] = {}
        self._made: dict[Requirements, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def lend(self, requirements: Requirements) -> Iterator[Env]:
        with self._lock:
            idle = self._idle.get(requirements)
            env = idle.pop() if idle else None
        if env is None:
            env = self._create(requirements)  # outside the lock: other sets need not wait
            with self._lock:
                self._made[requirements] = self._made.get(requirements, 0) + 1
        try:
            yield env
        finally:
            # A failed build leaves its environment as it found it: backends build into the
            # output directory, never into the environment.
            with self._lock:
                self._idle.setdefault(requirements, []).append(env)

    def made(self) -> dict[Requirements, int]:
        """How many environments were made for each requirement set."""
        with self._lock:
            return dict(self._made)


class IsolatedVenv:
    """An isolated build environment (``build``'s ``IsolatedEnv`` protocol), made and filled
    by processes that our runner starts: a cancelled run stops its installer as it stops
    every other child (``build``'s own ``DefaultIsolatedEnv`` runs the installer itself,
    where no signal of ours reaches it). A venv of ``python`` without pip, its
    requirements installed by uv, or else by ``python``'s pip (``pip --python``)."""

    def __init__(self, runner: ProcessRunner, python: str, uv: str | None) -> None:
        self.runner = runner
        self.python = python
        self.uv = uv
        self.path = Path(tempfile.mkdtemp(prefix="build-env-"))
        try:
            if uv:
                self._run([uv, "venv", "--quiet", "--python", python, str(self.path)])
            else:
                self._run([python, "-m", "venv", "--without-pip", str(self.path)])
        except BaseException:
            self.remove()
            raise

    @property
    def python_executable(self) -> str:
        scripts = "Scripts" if sys.platform == "win32" else "bin"
        return str(self.path / scripts / ("python.exe" if sys.platform == "win32" else "python"))

    def make_extra_environ(self) -> dict[str, str]:
        scripts = str(Path(self.python_executable).parent)
        # An empty PYTHONPATH is no PYTHONPATH: the host's does not reach the backend.
        return {"PATH": os.pathsep.join(filter(None, [scripts, os.environ.get("PATH")])),
                "PYTHONPATH": ""}  # fmt: skip

    def install(self, requirements: Iterable[str]) -> None:
        wanted = sorted(requirements)
        if not wanted:
            return
        listed = self.path / "build-requirements.txt"  # a file: markers are honoured
        listed.write_text("\n".join(wanted) + "\n", encoding="utf-8")
        keyring = shutil.which("keyring") is not None  # as build does: its keyring support
        if self.uv:
            env = {"PYTHONPATH": None, "VIRTUAL_ENV": str(self.path)}
            if keyring and "UV_KEYRING_PROVIDER" not in os.environ:
                env["UV_KEYRING_PROVIDER"] = "subprocess"
            self._run([self.uv, "pip", "install", "--quiet", "--python", self.python_executable,
                       "-r", str(listed)], env)  # fmt: skip
        else:
            env = {"PIP_KEYRING_PROVIDER": "subprocess"} if keyring else {}
            self._run([self.python, "-m", "pip", "--python", self.python_executable, "install",
                       "--quiet", "--disable-pip-version-check", "--no-warn-script-location",
                       "--no-compile", "--no-input", "-r", str(listed)], env)  # fmt: skip

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def _run(self, args: Sequence[str], env: Mapping[str, str | None] | None = None) -> None:
        from pubkit.releasing.adapters.tester import install_reason

        try:
            self.runner.run(args, env=env, timeout=INSTALL_TIMEOUT)
        except CommandError as error:
            if error.result is None:  # not run, timed out or cancelled: that says it
                raise
            # The installer's line that says why, not its last hint.
            raise BuildException(
                f"making the build environment failed: {install_reason(error.result)}"
            ) from None


class PypaBuilder:
    """pypa ``build``, isolated by default, with uv as its installer when available.

    Isolated environments (:class:`IsolatedVenv`) are shared between the builds of one
    builder with the same build requirements; they are removed by
    :meth:`close`, or when the builder is garbage-collected or the interpreter exits.
    Isolated environments are made from the running interpreter; ``python`` runs the backend
    of a ``--no-isolation`` build.
    """

    def __init__(
        self,
        runner: ProcessRunner | None = None,
        isolated: bool = True,
        use_uv: bool | None = None,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.runner = runner or SubprocessRunner()
        self.isolated = isolated
        self.use_uv = uv_available() if use_uv is None else use_uv
        self.python = python
        # e.g. SOURCE_DATE_EPOCH, which makes the backends that honour it reproducible.
        self.env = dict(env or {})
        self.environments: EnvironmentPool[IsolatedVenv] = EnvironmentPool(
            self._new_environment
        )
        self._cleanup = ExitStack()
        self._cleanup_lock = threading.Lock()
        # Callers (the pipeline, `pubkit build`) need not close us: the environments go when
        # the builder does, or at exit.
        self._finalizer = weakref.finalize(self, self._cleanup.close)

    def close(self) -> None:
        """Remove the build environments this builder made."""
        self._finalizer()

    def __enter__(self) -> PypaBuilder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def command(self, package_dir: Path, out_dir: Path) -> list[str]:
        """The ``python -m build`` command line that builds the same way: what a user runs to
        see a failed build's whole output."""
        # Without --sdist/--wheel, build makes the sdist and then the wheel from it.
        args = [self.python, "-m", "build", "--outdir", str(out_dir)]
        if not self.isolated:
            args.append("--no-isolation")
        elif self.use_uv:
            args += ["--installer", "uv"]
        return [*args, str(package_dir)]

    def build(
        self, package_dir: Path, out_dir: Path, name: str, env: Mapping[str, str] | None = None
    ) -> BuiltDistributions:
        """Build ``package_dir`` (project ``name``) into ``out_dir``, replacing old builds;
        ``env`` is added to the backend's environment for this build only."""
        token = _BUILD_ENV.set(dict(env or {}))
        try:
            return self._build(package_dir, out_dir, name)
        finally:
            _BUILD_ENV.reset(token)

    def _build(self, package_dir: Path, out_dir: Path, name: str) -> BuiltDistributions:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out_dir, prefix=".build-") as scratch:
            try:
                self._build_via_sdist(package_dir, Path(scratch))
            except (BuildException, BuildBackendException, CommandError, OSError,
                    subprocess.CalledProcessError) as error:  # fmt: skip
                raise BuildError(
                    f"{name} did not build: {_why(error)}; run `python -m build"
                    f" {package_dir}` to see the whole output"
                ) from None
            built = _pick(Path(scratch), name)
            return BuiltDistributions(
                sdist=Path(shutil.move(built.sdist, out_dir / built.sdist.name)),
                wheel=Path(shutil.move(built.wheel, out_dir / built.wheel.name)),
            )

    def _build_via_sdist(self, source: Path, out: Path) -> None:
        sdist = self._build_one(source, "sdist", out)
        with tempfile.TemporaryDirectory(prefix="pubkit-sdist-") as unpacked:
            self._build_one(_unpack_sdist(sdist, Path(unpacked)), "wheel", out)

    def _build_one(self, source: Path, kind: Distribution, out: Path) -> Path:
        if not self.isolated:
            builder = ProjectBuilder(source, python_executable=self.python, runner=self._run_hook)
            missing = builder.check_dependencies(kind)
            if missing:
                wanted = ", ".join(" -> ".join(chain) for chain in sorted(missing))
                raise BuildException(
                    f"missing build dependencies: {wanted}; install them or build isolated"
                )
            return Path(builder.build(kind, out))
        # Reading the [build-system] table runs nothing.
        requires = requirement_key(ProjectBuilder(source).build_system_requires)
        with self.environments.lend(requires) as env:
            builder = ProjectBuilder.from_isolated_env(env, source, runner=self._run_hook)
            extra = requirement_key(builder.get_requires_for_build(kind)) - requires
            if not extra:
                return Path(builder.build(kind, out))
        # The backend wants more for this build: an environment made for all of it, so that
        # the shared one stays exactly what its requirement set says.
        with self.environments.lend(requires | extra) as env:
            builder = ProjectBuilder.from_isolated_env(env, source, runner=self._run_hook)
            return Path(builder.build(kind, out))

    def _new_environment(self, requirements: Requirements) -> IsolatedVenv:
        from pubkit.releasing.adapters.tester import find_uv

        uv = find_uv() if self.use_uv else None
        if self.use_uv and uv is None:
            raise BuildException("uv is not installed or not on PATH; install it or build with pip")
        env = IsolatedVenv(self.runner, sys.executable, uv)
        try:
            env.install(requirements)
        except BaseException:
            env.remove()
            raise
        with self._cleanup_lock:  # installed: keep it until the builder goes
            self._cleanup.callback(env.remove)
        return env

    def _run_hook(
        self,
        cmd: Sequence[str],
        cwd: str | None = None,
        extra_environ: Mapping[str, str] | None = None,
    ) -> None:
        """Run one backend hook (pyproject_hooks' runner), its output captured, not shown."""
        environment = {**self.env, **_BUILD_ENV.get(), **(extra_environ or {})}
        self.runner.run(cmd, cwd=Path(cwd) if cwd else None, env=environment,
                        timeout=BUILD_TIMEOUT)  # fmt: skip


def _why(error: BaseException) -> str:
    """The one line that says why a build failed: the last line of the failing process's
    output when there is one."""
    if isinstance(error, BuildBackendException) and isinstance(
        error.exception, CommandError | subprocess.CalledProcessError
    ):
        error = error.exception  # a hook's process that failed: its output says why
    if isinstance(error, CommandError) and error.result is not None:
        return error.result.last_line() or error.message
    if isinstance(error, subprocess.CalledProcessError):  # the installer, run by build
        for stream in (error.stderr, error.stdout):
            text = stream.decode(errors="replace") if isinstance(stream, bytes) else stream or ""
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if lines:
                return lines[-1]
        return f"`{' '.join(map(str, error.cmd))}` exited with {error.returncode}"
    return str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__


def _unpack_sdist(sdist: Path, into: Path) -> Path:
    """Unpack ``sdist`` into ``into``; returns its one top-level directory."""
    with tarfile.open(sdist) as archive:
        members = archive.getmembers()
        tops = {PurePosixPath(member.name).parts[0] for member in members if member.name}
        if len(tops) != 1:
            raise BuildError(f"{sdist.name} should hold one top-level directory, not {len(tops)}")
        if hasattr(tarfile, "data_filter"):
            archive.extractall(into, filter="data")
        else:  # Python < 3.10.12: no extraction filters; refuse what they would refuse
            for member in members:
                parts = PurePosixPath(member.name).parts
                if member.name.startswith("/") or ".." in parts or member.issym() or member.islnk():
                    raise BuildError(f"{sdist.name} holds an unsafe member: {member.name}")
            archive.extractall(into)  # noqa: S202 - checked above
    return into / tops.pop()


def _pick(directory: Path, name: str) -> BuiltDistributions:
    sdists: list[Path] = []
    wheels: list[Path] = []
    for path in sorted(directory.iterdir()):
        try:
            parsed = parse_distribution_filename(path.name)
        except PubkitError:
            continue
        if parsed.project != name:
            raise BuildError(
                f"building {name} produced {path.name}, a distribution of {parsed.project};"
                " check [project] name in its pyproject.toml"
            )
        (wheels if parsed.is_wheel else sdists).append(path)
    if len(sdists) != 1 or len(wheels) != 1:
        found = ", ".join(p.name for p in [*sdists, *wheels]) or "nothing"
        raise BuildError(f"building {name} should give one sdist and one wheel, not {found}")
    return BuiltDistributions(sdists[0], wheels[0])
