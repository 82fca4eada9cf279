"""How a release looks: a live table on a terminal, plain lines in CI logs, a JSON result
file and a JUnit report. The library emits events and returns results; only this module
turns them into text."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

import typer

from pubkit.releasing.core.events import Event, PackageFinished, StepFinished, StepStarted

if TYPE_CHECKING:
    from rich.live import Live

    from pubkit.releasing.core.plan import ReleasePlan
    from pubkit.releasing.pipeline import ReleaseResult


def interactive() -> bool:
    """A person watching a terminal (not a CI log, which gets plain lines)."""
    return sys.stderr.isatty() and not os.environ.get("CI") and os.environ.get("TERM") != "dumb"


class PlainProgress:
    """One line per finished step and package, safe to interleave from parallel packages."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        if isinstance(event, StepStarted):
            return
        if isinstance(event, StepFinished):
            state = "ok" if event.ok else "FAILED"
            line = f"{event.package}: {event.step} {state} ({event.seconds:.1f} s)"
            if event.detail:
                line += f" {event.detail}"
        else:
            line = f"{event.package}: {event.status.upper()} {event.version or ''}".rstrip()
            if event.status in ("failed", "blocked"):
                line += f": {event.detail}"
        with self._lock:
            typer.echo(line, err=True)

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class LiveProgress:
    """A table of packages with the step each is in, redrawn as events arrive."""

    def __init__(self, plan: ReleasePlan) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, list[str]] = {
            entry.name: [entry.name, entry.next or "", "waiting", ""] for entry in plan.releases
        }
        self._started = time.monotonic()
        self._live: Live | None = None

    def __enter__(self) -> LiveProgress:
        from rich.console import Console
        from rich.live import Live

        self._live = Live(self._table(), console=Console(stderr=True), refresh_per_second=8,
                          transient=False)  # fmt: skip
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(None, None, None)

    def _table(self) -> Any:
        from rich.table import Table

        elapsed = time.monotonic() - self._started
        table = Table("package", "version", "status", "detail",
                      title=f"pubkit release ({elapsed:.0f} s)")  # fmt: skip
        for row in self._rows.values():
            table.add_row(*row)
        return table

    def __call__(self, event: Event) -> None:
        with self._lock:
            row = self._rows.get(event.package)
            if row is None:
                return
            if isinstance(event, StepStarted):
                row[2] = f"[yellow]{event.step}…[/]"
            elif isinstance(event, StepFinished) and not event.ok:
                row[2], row[3] = f"[red]{event.step} failed[/]", event.detail
            elif isinstance(event, PackageFinished):
                colour = {"released": "green", "failed": "red", "blocked": "red"}.get(
                    event.status, "white"
                )
                row[2] = f"[{colour}]{event.status}[/]"
                if event.status != "released":
                    row[3] = event.detail
            if self._live is not None:
                self._live.update(self._table())


def plain_table(headers: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    """Rows as aligned columns, nothing cut (the last column is not padded)."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]


def summary_lines(result: ReleaseResult) -> list[str]:
    """What happened, one line per package that was in the plan, then the verdict."""
    lines = []
    for package in result.packages:
        if package.status == "skipped":
            continue
        line = f"{package.status:<9} {package.name} {package.version or ''}".rstrip()
        if package.status in ("failed", "blocked", "cancelled"):
            line += f": {package.reason}"
        elif package.uploaded or package.already_there or package.tag:
            parts = [f"uploaded {len(package.uploaded)}"]
            if package.already_there:
                parts.append(f"{len(package.already_there)} already on the index")
            if package.tag:
                parts.append(f"tagged {package.tag}")
            line += f" ({', '.join(parts)})"
        lines.append(line)
    released = len(result.by_status("released"))
    stopped = sum(len(result.by_status(s)) for s in ("failed", "blocked", "cancelled"))
    if result.cancelled is not None:
        name = signal.Signals(result.cancelled).name
        lines.append(f"cancelled by {name}: {released} package(s) released, {stopped} not;"
                     " re-run `pubkit release` to finish (it uploads nothing twice)")  # fmt: skip
    elif result.dry_run:
        lines.append(f"dry run: {len(result.by_status('planned'))} package(s) would be released;"
                     " nothing was changed")  # fmt: skip
    elif not released and not stopped:
        lines.append("nothing to release")
    elif stopped:
        lines.append(f"{released} package(s) released, {stopped} not: fix the cause and"
                     " re-run `pubkit release` (it finishes the job, uploading nothing"
                     " twice)")  # fmt: skip
    else:
        lines.append(f"{released} package(s) released in {result.seconds:.1f} s")
    if result.pushed:
        lines.append(f"pushed {', '.join(result.pushed)}")
    return lines


def write_json(result: ReleaseResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")


def junit_report(result: ReleaseResult) -> str:
    """The release as JUnit XML: a test suite per package, a test case per step, so a CI
    shows which step of which package failed (the packages' own tests have their own
    reports)."""
    suites = ElementTree.Element("testsuites", name="pubkit release")
    for package in result.packages:
        suite = ElementTree.SubElement(suites, "testsuite", name=package.name)
        classname = f"pubkit.release.{package.name}"
        cases: list[tuple[str, float, str | None, str | None]] = []  # name, time, fail, skip
        for step in package.steps:
            cases.append((step.step, step.seconds, None if step.ok else step.detail, None))
        not_started = package.status == "cancelled" and not package.steps
        if package.status in ("skipped", "planned", "blocked") or not_started:
            cases.append(("release", 0.0, None, package.reason))
        failures = sum(1 for case in cases if case[2] is not None)
        skipped = sum(1 for case in cases if case[3] is not None)
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        suite.set("skipped", str(skipped))
        suite.set("time", f"{sum(case[1] for case in cases):.3f}")
        for name, seconds, failure, skip in cases:
            case = ElementTree.SubElement(suite, "testcase", name=name, classname=classname,
                                          time=f"{seconds:.3f}")  # fmt: skip
            if failure is not None:
                ElementTree.SubElement(case, "failure", message=failure).text = failure
            if skip is not None:
                ElementTree.SubElement(case, "skipped", message=skip)
    ElementTree.indent(suites)
    return ElementTree.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(result: ReleaseResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_report(result), encoding="utf-8")
