"""``pubkit yank`` and ``pubkit unyank`` (PEP 592) on the data dir or catalog URL."""

from __future__ import annotations

from pathlib import Path

import typer

from pubkit.cli.common import CatalogOption, DataDirOption, StorageOption, server_settings
from pubkit.cli.token import local_actor
from pubkit.server.admin import yank_release
from pubkit.server.catalog import open_catalog
from pubkit.server.storage import open_storage


def _set_yank(
    project: str,
    version: str,
    reason: str | None,
    yanked: bool,
    data_dir: Path | None,
    storage: str | None,
    catalog: str | None,
) -> None:
    settings = server_settings(data_dir, storage, catalog)
    records = yank_release(
        open_storage(settings.storage_url),
        open_catalog(settings.catalog_url),
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
