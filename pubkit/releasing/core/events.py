"""Progress events of a release: the library emits them, the CLI renders them (a live display
on a terminal, plain lines in CI). Pure data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

PackageStatus = Literal["released", "skipped", "failed", "blocked", "planned", "cancelled"]


@dataclass(frozen=True)
class StepStarted:
    package: str
    step: str


@dataclass(frozen=True)
class StepFinished:
    package: str
    step: str
    ok: bool
    seconds: float
    detail: str  # what it did ("uploaded 2 files"), or why it failed


@dataclass(frozen=True)
class PackageFinished:
    package: str
    version: str | None
    status: PackageStatus
    detail: str


Event = StepStarted | StepFinished | PackageFinished
EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The default sink: a script that does not watch progress reads the result instead."""
