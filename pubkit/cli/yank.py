"""``pubkit yank`` and ``pubkit unyank`` (PEP 592), and ``pubkit delete`` (a release's files),
on an index's data or a running server."""

from __future__ import annotations

import sys

import typer

from pubkit.cli.common import (
    AdminTarget,
    admin_options,
)
from pubkit.errors import UsageError


@admin_options
def yank(
    target: AdminTarget,
    project: str = typer.Argument(..., help="Project name."),
    version: str = typer.Argument(..., help="Version to yank."),
    reason: str = typer.Option(None, "--reason", help="Why, shown to installers."),
) -> None:
    """Yank a release: installers skip it unless it is pinned exactly (PEP 592)."""
    files = target.operations().yank(project, version, reason)
    typer.echo(f"yanked {project} {version} ({files} file(s))")


@admin_options
def unyank(
    target: AdminTarget,
    project: str = typer.Argument(..., help="Project name."),
    version: str = typer.Argument(..., help="Version to restore."),
) -> None:
    """Undo a yank."""
    files = target.operations().yank(project, version, None, yanked=False)
    typer.echo(f"unyanked {project} {version} ({files} file(s))")


@admin_options
def delete(
    target: AdminTarget,
    project: str = typer.Argument(..., help="Project name."),
    version: str = typer.Argument(..., help="The release whose files to delete."),
    yes: bool = typer.Option(False, "--yes", help="Delete without asking."),
) -> None:
    """Delete every file of a release (admins only; it cannot be undone: prefer yank)."""
    if not yes and not sys.stdin.isatty():
        raise UsageError(
            f"deleting {project} {version} cannot be undone; pass --yes to confirm"
            " (or `pubkit yank` it instead)"
        )
    operations = target.operations()
    if not yes:
        typer.confirm(f"Delete every file of {project} {version}? This cannot be undone",
                      abort=True)  # fmt: skip
    files = operations.delete_release(project, version)
    typer.echo(f"deleted {project} {version} ({files} file(s))")
