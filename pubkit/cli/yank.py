"""``pubkit yank`` and ``pubkit unyank`` (PEP 592) on the data dir or catalog URL."""

from __future__ import annotations

from pathlib import Path

import typer

from pubkit.cli.common import (
    CatalogOption,
    DataDirOption,
    StorageOption,
    local_actor,
    open_server_catalog,
    open_server_storage,
)


def _set_yank(
    project: str,
    version: str,
    reason: str | None,
    yanked: bool,
    data_dir: Path | None,
    storage: str | None,
    catalog: str | None,
) -> None:
    catalog_ = open_server_catalog(data_dir, storage, catalog)
    from pubkit.server.admin import yank_release

    records = yank_release(
        open_server_storage(data_dir, storage, catalog),
        catalog_,
        project,
        version,
        reason,
        actor=local_actor(),
        yanked=yanked,
    )
    verb = "yanked" if yanked else "unyanked"
    typer.echo(f"{verb} {project} {version} ({len(records)} file(s))")


def yank(
    project: str = typer.Argument(..., help="Project name."),
    version: str = typer.Argument(..., help="Version to yank."),
    reason: str = typer.Option(None, "--reason", help="Why, shown to installers."),
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Yank a release: installers skip it unless it is pinned exactly (PEP 592)."""
    _set_yank(project, version, reason, True, data_dir, storage, catalog)


def unyank(
    project: str = typer.Argument(..., help="Project name."),
    version: str = typer.Argument(..., help="Version to restore."),
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Undo a yank."""
    _set_yank(project, version, None, False, data_dir, storage, catalog)
