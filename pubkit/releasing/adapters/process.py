"""Running commands: the one place pubkit starts a subprocess."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pubkit.errors import PubkitError


class CommandError(PubkitError):
    """A command that could not run, failed, or ran out of time."""

    def __init__(self, message: str, result: CommandResult | None = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class CommandResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def last_line(self) -> str:
        """The last non-empty line of stderr (or stdout): usually the one that says why."""
        for text in (self.stderr, self.stdout):
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if lines:
                return lines[-1]
        return ""


def describe(args: Sequence[str]) -> str:
    shown = " ".join(args)
    return shown if len(shown) <= 120 else shown[:117] + "..."


class ProcessRunner(Protocol):
    def run(
        self,
        args: Sequence[str],
        cwd: Path | None = None,
        env: Mapping[str, str | None] | None = None,
        timeout: float | None = None,
        check: bool = True,
    ) -> CommandResult: ...


class SubprocessRunner:
    """Runs commands for real; ``env`` adds to (or, with ``None`` values, removes from) ours."""

    def run(
        self,
        args: Sequence[str],
        cwd: Path | None = None,
        env: Mapping[str, str | None] | None = None,
        timeout: float | None = None,
        check: bool = True,
    ) -> CommandResult:
        environment = dict(os.environ)
        for key, value in (env or {}).items():
            if value is None:
                environment.pop(key, None)
            else:
                environment[key] = value
        started = time.monotonic()
        try:
            completed = subprocess.run(
                list(args), cwd=cwd, env=environment, capture_output=True, text=True,
                timeout=timeout, check=False,
            )  # fmt: skip
        except FileNotFoundError:
            raise CommandError(
                f"{args[0]} is not installed or not on PATH; install it and retry"
            ) from None
        except subprocess.TimeoutExpired:
            raise CommandError(
                f"`{describe(args)}` did not finish within {timeout:g} seconds"
            ) from None
        result = CommandResult(
            tuple(args), completed.returncode, completed.stdout, completed.stderr,
            time.monotonic() - started,
        )  # fmt: skip
        if check and not result.ok:
            raise CommandError(
                f"`{describe(args)}` failed (exit {result.returncode}): {result.last_line()}",
                result,
            )
        return result


Responder = Callable[[tuple[str, ...]], CommandResult | None]


@dataclass
class FakeRunner:
    """Records commands and answers from canned responders; for tests of what would run."""

    responders: list[Responder] = field(default_factory=list)
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def run(
        self,
        args: Sequence[str],
        cwd: Path | None = None,
        env: Mapping[str, str | None] | None = None,
        timeout: float | None = None,
        check: bool = True,
    ) -> CommandResult:
        command = tuple(args)
        self.calls.append(command)
        for responder in self.responders:
            result = responder(command)
            if result is not None:
                break
        else:
            result = CommandResult(command, 0, "", "", 0.0)
        if check and not result.ok:
            raise CommandError(f"`{describe(command)}` failed: {result.last_line()}", result)
        return result
