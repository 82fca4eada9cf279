"""``pubkit project``: a project's visibility and roles."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pubkit.cli.common import (
    CatalogOption,
    DataDirOption,
    ServerOption,
    StorageOption,
    admin_operations,
)
from pubkit.cli.role import role_lines

app = typer.Typer(help="Project visibility and roles (on the data dir, catalog URL or --server).",
                  no_args_is_help=True)  # fmt: skip

ProjectArgument = typer.Argument(..., help="The project (created if it does not exist yet).")


@app.command("private")
def private(
    project: str = ProjectArgument,
    server: str = ServerOption,
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Make a project private: only its owners, maintainers, readers and admins see it."""
    admin_operations(server, data_dir, storage, catalog).set_private(project, True)
    typer.echo(f"{project} is private")


@app.command("public")
def public(
    project: str = ProjectArgument,
    server: str = ServerOption,
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Make a project public again: whoever may read the index may read it."""
    admin_operations(server, data_dir, storage, catalog).set_private(project, False)
    typer.echo(f"{project} is public")


@app.command("show")
def show(
    project: str = typer.Argument(..., help="The project."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    server: str = ServerOption,
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """A project's visibility, then its roles: users, then @groups."""
    info = admin_operations(server, data_dir, storage, catalog).project(project)
    if as_json:
        typer.echo(json.dumps(info.to_json(), indent=2))
        return
    typer.echo(f"{info.name}\t{'private' if info.private else 'public'}")
    for line in role_lines(info.roles):
        typer.echo(f"  {line}")
