"""Building distributions with pypa ``build``: the sdist first, then the wheel from the sdist,
so that what is tested and published is what a user of the sdist would build."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pubkit.adapters.process import ProcessRunner, SubprocessRunner
from pubkit.core.distributions import parse_distribution_filename
from pubkit.errors import PubkitError

BUILD_TIMEOUT = 900.0


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
    def build(self, package_dir: Path, out_dir: Path, name: str) -> BuiltDistributions: ...


def uv_available() -> bool:
    return importlib.util.find_spec("uv") is not None or shutil.which("uv") is not None


class PypaBuilder:
    """``python -m build``, isolated by default, with uv as its installer when available."""

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

    def command(self, package_dir: Path, out_dir: Path) -> list[str]:
        # Without --sdist/--wheel, build makes the sdist and then the wheel from it.
        args = [self.python, "-m", "build", "--outdir", str(out_dir)]
        if not self.isolated:
            args.append("--no-isolation")
        elif self.use_uv:
            args += ["--installer", "uv"]
        return [*args, str(package_dir)]

    def build(self, package_dir: Path, out_dir: Path, name: str) -> BuiltDistributions:
        """Build ``package_dir`` (project ``name``) into ``out_dir``, replacing old builds."""
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out_dir, prefix=".build-") as scratch:
            result = self.runner.run(
                self.command(package_dir, Path(scratch)), env=self.env, timeout=BUILD_TIMEOUT,
                check=False,
            )
            if not result.ok:
                raise BuildError(
                    f"{name} did not build: {result.last_line()}; run `python -m build"
                    f" {package_dir}` to see the whole output"
                )
            built = _pick(Path(scratch), name)
            return BuiltDistributions(
                sdist=Path(shutil.move(built.sdist, out_dir / built.sdist.name)),
                wheel=Path(shutil.move(built.wheel, out_dir / built.wheel.name)),
            )


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
