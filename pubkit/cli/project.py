"""``pubkit project``: a project's visibility and roles."""

from __future__ import annotations

import json

import typer

from pubkit.cli.common import (
    AdminTarget,
    admin_options,
)
from pubkit.cli.role import role_lines

app = typer.Typer(help="Project visibility and roles (on the data dir, catalog URL or --server).",
                  no_args_is_help=True)  # fmt: skip

ProjectArgument = typer.Argument(..., help="The project (created if it does not exist yet).")


@app.command("private")
@admin_options
def private(
    target: AdminTarget,
    project: str = ProjectArgument,
) -> None:
    """Make a project private: only its owners, maintainers, readers and admins see it."""
    target.operations().set_private(project, True)
    typer.echo(f"{project} is private")


@app.command("public")
@admin_options
def public(
    target: AdminTarget,
    project: str = ProjectArgument,
) -> None:
    """Make a project public again: whoever may read the index may read it."""
    target.operations().set_private(project, False)
    typer.echo(f"{project} is public")


@app.command("show")
@admin_options
def show(
    target: AdminTarget,
    project: str = typer.Argument(..., help="The project."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A project's visibility, then its roles: users, then @groups."""
    info = target.operations().project(project)
    if as_json:
        typer.echo(json.dumps(info.to_json(), indent=2))
        return
    typer.echo(f"{info.name}\t{'private' if info.private else 'public'}")
    for line in role_lines(info.roles):
        typer.echo(f"  {line}")
