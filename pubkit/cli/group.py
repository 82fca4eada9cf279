"""``pubkit group``: groups of users, which hold roles on projects as ``@GROUP``."""

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
from pubkit.core.accounts import GROUP_PREFIX

app = typer.Typer(help="Manage groups of users (on the data dir, catalog URL or --server).",
                  no_args_is_help=True)  # fmt: skip

GroupArgument = typer.Argument(..., help="The group, with or without its leading @.")


def _shown(group: str) -> str:
    return GROUP_PREFIX + group.removeprefix(GROUP_PREFIX)


@app.command("add")
def add(
    group: str = GroupArgument,
    server: str = ServerOption,
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Add a group (then `pubkit role grant PROJECT @GROUP ROLE`)."""
    added = admin_operations(server, data_dir, storage, catalog).add_group(group)
    typer.echo(f"added group {_shown(added.name)}")


@app.command("remove")
def remove(
    group: str = GroupArgument,
    server: str = ServerOption,
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Remove a group, its memberships and the roles it held (its members stay)."""
    admin_operations(server, data_dir, storage, catalog).remove_group(group)
    typer.echo(f"removed group {_shown(group)}")


@app.command("add-member")
def add_member(
    group: str = GroupArgument,
    user: str = typer.Argument(..., help="The user."),
    server: str = ServerOption,
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Make a user a member of a group (already one: nothing changes)."""
    admin_operations(server, data_dir, storage, catalog).add_member(group, user)
    typer.echo(f"added {user} to {_shown(group)}")


@app.command("remove-member")
def remove_member(
    group: str = GroupArgument,
    user: str = typer.Argument(..., help="The user."),
    server: str = ServerOption,
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Take a user out of a group."""
    admin_operations(server, data_dir, storage, catalog).remove_member(group, user)
    typer.echo(f"removed {user} from {_shown(group)}")


@app.command("list")
def list_groups(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    server: str = ServerOption,
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """List groups and their members: @group, members (comma-separated, - for none)."""
    groups = admin_operations(server, data_dir, storage, catalog).groups()
    if as_json:
        typer.echo(json.dumps([group.to_json() for group in groups], indent=2))
        return
    for group in groups:
        typer.echo(f"{_shown(group.name)}\t{','.join(group.members) or '-'}")
