"""``pubkit index``: maintain the catalog from storage."""

from __future__ import annotations

from pathlib import Path

import typer

from pubkit.cli.common import CatalogOption, DataDirOption, StorageOption, server_settings
from pubkit.server.admin import rebuild_catalog
from pubkit.server.catalog import open_catalog
from pubkit.server.storage import open_storage

app = typer.Typer(help="Maintain the index catalog.", no_args_is_help=True)


@app.command("rebuild")
def rebuild(
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Recreate the catalog's files from storage (safe while the server runs)."""
    settings = server_settings(data_dir, storage, catalog)
    report = rebuild_catalog(open_storage(settings.storage_url), open_catalog(settings.catalog_url))
    typer.echo(
        f"{report.files} files in storage: {report.added} added, {report.updated} updated,"
        f" {report.removed} removed from the catalog"
    )
    for line in report.owners_assigned:
        typer.echo(f"owner restored: {line}")
    for key in report.incomplete:
        typer.echo(
            f"warning: {key} has no sidecar (an interrupted upload); it stays unlisted."
            " Upload the file again or delete it from storage",
            err=True,
        )
