"""``pubkit user``: manage the users of an index (its data, or a running server)."""

from __future__ import annotations

from pathlib import Path

import typer

from pubkit.cli.common import (
    CatalogOption,
    DataDirOption,
    ServerOption,
    StorageOption,
    admin_operations,
    read_password,
)

app = typer.Typer(help="Manage users (on the data dir, catalog URL or --server).",
                  no_args_is_help=True)  # fmt: skip

PasswordStdin = typer.Option(
    False, "--password-stdin", help="Read the password from the first line of standard input."
)


@app.command("add")
def add(
    name: str = typer.Argument(..., help="User name."),
    is_admin: bool = typer.Option(False, "--admin", help="Make the user an administrator."),
    password_stdin: bool = PasswordStdin,
    server: str = ServerOption,
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Add a user; the password comes from a prompt or --password-stdin."""
    operations = admin_operations(server, data_dir, storage, catalog)
    user = operations.add_user(name, read_password(password_stdin), is_admin)
    typer.echo(f"added user {user.name}{' (admin)' if user.is_admin else ''}")


@app.command("list")
def list_users(
    server: str = ServerOption,
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """List users: name, admin or user, created."""
    for user in admin_operations(server, data_dir, storage, catalog).users():
        flags = "admin" if user.is_admin else "user"
        typer.echo(f"{user.name}\t{flags}\t{user.created.isoformat()}")


@app.command("remove")
def remove(
    name: str = typer.Argument(..., help="User name."),
    server: str = ServerOption,
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Remove a user (their files stay; their roles, memberships and tokens go)."""
    admin_operations(server, data_dir, storage, catalog).remove_user(name)
    typer.echo(f"removed user {name}")


@app.command("passwd")
def passwd(
    name: str = typer.Argument(..., help="User name."),
    password_stdin: bool = PasswordStdin,
    server: str = ServerOption,
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Set a user's password (with --server: as an admin, or as that user with their password)."""
    operations = admin_operations(server, data_dir, storage, catalog)
    operations.set_password(name, read_password(password_stdin))
    typer.echo(f"changed the password of {name}")
