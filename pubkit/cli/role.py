"""``pubkit role``: who may read, upload to and manage a project (users and @groups)."""

from __future__ import annotations

import typer

from pubkit.cli.common import (
    AdminTarget,
    admin_options,
)
from pubkit.core.accounts import RoleGrant

app = typer.Typer(help="Manage project roles (on the data dir, catalog URL or --server).",
                  no_args_is_help=True)  # fmt: skip

HolderArgument = typer.Argument(..., help="A user, or @GROUP for a group's members.")


@app.command("grant")
@admin_options
def grant(
    target: AdminTarget,
    project: str = typer.Argument(..., help="The project (created if it does not exist yet)."),
    holder: str = HolderArgument,
    role: str = typer.Argument(
        ...,
        help="owner (upload, yank, manage roles), maintainer (upload) or reader (read a"
        " private project).",
    ),
) -> None:
    """Give a user or @group a role on a project (replacing the role it had there)."""
    target.operations().grant(project, holder, role)
    typer.echo(f"granted {role} of {project} to {holder}")


@app.command("revoke")
@admin_options
def revoke(
    target: AdminTarget,
    project: str = typer.Argument(..., help="The project."),
    holder: str = HolderArgument,
    role: str = typer.Argument(..., help="The role it has there."),
) -> None:
    """Take a role away (a project keeps at least one owner)."""
    target.operations().revoke(project, holder, role)
    typer.echo(f"revoked {role} of {project} from {holder}")


def role_lines(roles: tuple[RoleGrant, ...]) -> list[str]:
    """``holder<TAB>role``: users first, then @groups, each in the order given."""
    return [f"{grant.holder}\t{grant.role}" for grant in sorted(roles, key=lambda g: g.is_group)]


@app.command("list")
@admin_options
def list_roles(
    target: AdminTarget,
    project: str = typer.Argument(..., help="The project."),
) -> None:
    """The users, then the @groups, that hold a role on a project."""
    info = target.operations().project(project)
    for line in role_lines(info.roles):
        typer.echo(line)
