"""``pubkit yank`` and ``pubkit unyank`` (PEP 592), and ``pubkit delete`` (a release's files),
on an index's data or a running server."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from pubkit.cli.common import (
    CatalogOption,
    DataDirOption,
    ServerOption,
    StorageOption,
    admin_operations,
)
from pubkit.errors import UsageError


def yank(
    project: str = typer.Argument(..., help="Project name."),
    version: str = typer.Argument(..., help="Version to yank."),
    reason: str = typer.Option(None, "--reason", help="Why, shown to installers."),
    server: str = ServerOption,
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Yank a release: installers skip it unless it is pinned exactly (PEP 592)."""
    files = admin_operations(server, data_dir, storage, catalog).yank(project, version, reason)
    typer.echo(f"yanked {project} {version} ({files} file(s))")


def unyank(
    project: str = typer.Argument(..., help="Project name."),
    version: str = typer.Argument(..., help="Version to restore."),
    server: str = ServerOption,
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Undo a yank."""
    operations = admin_operations(server, data_dir, storage, catalog)
    files = operations.yank(project, version, None, yanked=False)
    typer.echo(f"unyanked {project} {version} ({files} file(s))")


def delete(
    project: str = typer.Argument(..., help="Project name."),
    version: str = typer.Argument(..., help="The release whose files to delete."),
    yes: bool = typer.Option(False, "--yes", help="Delete without asking."),
    server: str = ServerOption,
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Delete every file of a release (admins only; it cannot be undone: prefer yank)."""
    if not yes and not sys.stdin.isatty():
        raise UsageError(
            f"deleting {project} {version} cannot be undone; pass --yes to confirm"
            " (or `pubkit yank` it instead)"
        )
    operations = admin_operations(server, data_dir, storage, catalog)
    if not yes:
        typer.confirm(f"Delete every file of {project} {version}? This cannot be undone",
                      abort=True)  # fmt: skip
    files = operations.delete_release(project, version)
    typer.echo(f"deleted {project} {version} ({files} file(s))")
