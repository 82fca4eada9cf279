"""``pubkit group``: groups of users, which hold roles on projects as ``@GROUP``."""

from __future__ import annotations

import json

import typer

from pubkit.cli.common import (
    AdminTarget,
    admin_options,
)
from pubkit.core.accounts import GROUP_PREFIX

app = typer.Typer(help="Manage groups of users (on the data dir, catalog URL or --server).",
                  no_args_is_help=True)  # fmt: skip

GroupArgument = typer.Argument(..., help="The group, with or without its leading @.")


def _shown(group: str) -> str:
    return GROUP_PREFIX + group.removeprefix(GROUP_PREFIX)


@app.command("add")
@admin_options
def add(
    target: AdminTarget,
    group: str = GroupArgument,
) -> None:
    """Add a group (then `pubkit role grant PROJECT @GROUP ROLE`)."""
    added = target.operations().add_group(group)
    typer.echo(f"added group {_shown(added.name)}")


@app.command("remove")
@admin_options
def remove(
    target: AdminTarget,
    group: str = GroupArgument,
) -> None:
    """Remove a group, its memberships and the roles it held (its members stay)."""
    target.operations().remove_group(group)
    typer.echo(f"removed group {_shown(group)}")


@app.command("add-member")
@admin_options
def add_member(
    target: AdminTarget,
    group: str = GroupArgument,
    user: str = typer.Argument(..., help="The user."),
) -> None:
    """Make a user a member of a group (already one: nothing changes)."""
    target.operations().add_member(group, user)
    typer.echo(f"added {user} to {_shown(group)}")


@app.command("remove-member")
@admin_options
def remove_member(
    target: AdminTarget,
    group: str = GroupArgument,
    user: str = typer.Argument(..., help="The user."),
) -> None:
    """Take a user out of a group."""
    target.operations().remove_member(group, user)
    typer.echo(f"removed {user} from {_shown(group)}")


@app.command("list")
@admin_options
def list_groups(
    target: AdminTarget,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List groups and their members: @group, members (comma-separated, - for none)."""
    groups = target.operations().groups()
    if as_json:
        typer.echo(json.dumps([group.to_json() for group in groups], indent=2))
        return
    for group in groups:
        typer.echo(f"{_shown(group.name)}\t{','.join(group.members) or '-'}")
