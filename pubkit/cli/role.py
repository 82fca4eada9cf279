"""``pubkit role``: who may read, upload to and manage a project (users and @groups)."""

from __future__ import annotations

from pathlib import Path

import typer

from pubkit.cli.common import (
    CatalogOption,
    DataDirOption,
    ServerOption,
    StorageOption,
    admin_operations,
)
from pubkit.core.accounts import RoleGrant

app = typer.Typer(help="Manage project roles (on the data dir, catalog URL or --server).",
                  no_args_is_help=True)  # fmt: skip

HolderArgument = typer.Argument(..., help="A user, or @GROUP for a group's members.")


@app.command("grant")
def grant(
    project: str = typer.Argument(..., help="The project (created if it does not exist yet)."),
    holder: str = HolderArgument,
    role: str = typer.Argument(
        ...,
        help="owner (upload, yank, manage roles), maintainer (upload) or reader (read a"
        " private project).",
    ),
    server: str = ServerOption,
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Give a user or @group a role on a project (replacing the role it had there)."""
    admin_operations(server, data_dir, storage, catalog).grant(project, holder, role)
    typer.echo(f"granted {role} of {project} to {holder}")


@app.command("revoke")
def revoke(
    project: str = typer.Argument(..., help="The project."),
    holder: str = HolderArgument,
    role: str = typer.Argument(..., help="The role it has there."),
    server: str = ServerOption,
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Take a role away (a project keeps at least one owner)."""
    admin_operations(server, data_dir, storage, catalog).revoke(project, holder, role)
    typer.echo(f"revoked {role} of {project} from {holder}")


def role_lines(roles: tuple[RoleGrant, ...]) -> list[str]:
    """``holder<TAB>role``: users first, then @groups, each in the order given."""
    return [f"{grant.holder}\t{grant.role}" for grant in sorted(roles, key=lambda g: g.is_group)]


@app.command("list")
def list_roles(
    project: str = typer.Argument(..., help="The project."),
    server: str = ServerOption,
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """The users, then the @groups, that hold a role on a project."""
    info = admin_operations(server, data_dir, storage, catalog).project(project)
    for line in role_lines(info.roles):
        typer.echo(line)
