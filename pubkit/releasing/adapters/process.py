"""Running commands: the one place pubkit starts a subprocess."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
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
        if CANCELLATION.cancelled():
            raise CommandError("the run was cancelled; nothing more is started")
        try:
            # Its own process group: a timeout or a cancelled run stops its children too.
            child = subprocess.Popen(
                list(args), cwd=cwd, env=environment, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                start_new_session=True,
            )  # fmt: skip
        except FileNotFoundError:
            raise CommandError(
                f"{args[0]} is not installed or not on PATH; install it and retry"
            ) from None
        CANCELLATION.add(child)
        try:
            stdout, stderr = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(child, signal.SIGKILL)
            child.communicate()
            raise CommandError(
                f"`{describe(args)}` did not finish within {timeout:g} seconds"
            ) from None
        finally:
            CANCELLATION.discard(child)
        if CANCELLATION.cancelled() and child.returncode != 0:
            raise CommandError(f"`{describe(args)}` was stopped: the run was cancelled")
        result = CommandResult(
            tuple(args), child.returncode, stdout, stderr, time.monotonic() - started,
        )  # fmt: skip
        if check and not result.ok:
            raise CommandError(
                f"`{describe(args)}` failed (exit {result.returncode}): {result.last_line()}",
                result,
            )
        return result


class Cancellation:
    """A run being stopped (SIGTERM from a cancelled CI job, or Ctrl-C): every child runs in
    its own process group, so that stopping it stops what it started too (pip, pytest and
    their children); no new command starts once the run is cancelled."""

    GRACE = 5.0  # seconds between SIGTERM and SIGKILL

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._children: set[subprocess.Popen[str]] = set()
        self.signal: int | None = None

    def cancelled(self) -> bool:
        return self.signal is not None

    def add(self, child: subprocess.Popen[str]) -> None:
        with self._lock:
            if self.signal is not None:
                _kill_group(child, signal.SIGKILL)
                raise CommandError("the run was cancelled; nothing more is started")
            self._children.add(child)

    def discard(self, child: subprocess.Popen[str]) -> None:
        with self._lock:
            self._children.discard(child)

    def cancel(self, signum: int) -> None:
        """Stop every running child's process group: SIGTERM, then SIGKILL after a grace
        period (in a thread: a signal handler must return quickly)."""
        with self._lock:
            if self.signal is not None:
                return
            self.signal = signum
            children = list(self._children)
        for child in children:
            _kill_group(child, signal.SIGTERM)

        def finish() -> None:
            deadline = time.monotonic() + self.GRACE
            for child in children:
                try:
                    child.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    _kill_group(child, signal.SIGKILL)

        threading.Thread(target=finish, name="pubkit-cancel", daemon=True).start()

    def reset(self) -> None:
        """For a process that runs several releases (tests): forget a past cancellation."""
        with self._lock:
            self.signal = None


def _kill_group(child: subprocess.Popen[str], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # gone already
        os.killpg(child.pid, signum)


# The one for this process: the CLI's signal handlers cancel it.
CANCELLATION = Cancellation()


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
