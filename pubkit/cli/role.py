"""``pubkit role``: who may upload to (and manage) a project, on the server's data."""

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

app = typer.Typer(help="Manage project roles (on the data dir or catalog URL).",
                  no_args_is_help=True)  # fmt: skip


@app.command("grant")
def grant(
    project: str = typer.Argument(..., help="The project (created if it does not exist yet)."),
    user: str = typer.Argument(..., help="The user."),
    role: str = typer.Argument(..., help="owner (upload, yank, manage roles) or maintainer."),
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Give a user a role on a project (replacing the role they had there)."""
    from pubkit.server import admin

    catalog_ = open_server_catalog(data_dir, storage, catalog)
    admin.Admin(catalog_, lambda: open_server_storage(data_dir, storage, catalog),
                local_actor()).grant(project, user, role)  # fmt: skip
    typer.echo(f"granted {role} of {project} to {user}")


@app.command("revoke")
def revoke(
    project: str = typer.Argument(..., help="The project."),
    user: str = typer.Argument(..., help="The user."),
    role: str = typer.Argument(..., help="The role the user has there."),
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Take a role away (a project keeps at least one owner)."""
    from pubkit.server import admin

    catalog_ = open_server_catalog(data_dir, storage, catalog)
    admin.Admin(catalog_, lambda: open_server_storage(data_dir, storage, catalog),
                local_actor()).revoke(project, user, role)  # fmt: skip
    typer.echo(f"revoked {role} of {project} from {user}")


@app.command("list")
def list_roles(
    project: str = typer.Argument(..., help="The project."),
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """The users who hold a role on a project."""
    from pubkit.core.distributions import normalize_name

    for user, role in open_server_catalog(data_dir, storage, catalog).project_roles(
        normalize_name(project)
    ):
        typer.echo(f"{user}\t{role}")
