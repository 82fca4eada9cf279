"""``pubkit user``: manage the users of a server's catalog."""

from __future__ import annotations

from pathlib import Path

import typer

from pubkit.cli.common import (
    CatalogOption,
    DataDirOption,
    StorageOption,
    open_server_catalog,
    read_password,
)

app = typer.Typer(help="Manage users (on the data dir or catalog URL).", no_args_is_help=True)

PasswordStdin = typer.Option(
    False, "--password-stdin", help="Read the password from the first line of standard input."
)


_catalog = open_server_catalog


@app.command("add")
def add(
    name: str = typer.Argument(..., help="User name."),
    is_admin: bool = typer.Option(False, "--admin", help="Make the user an administrator."),
    password_stdin: bool = PasswordStdin,
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Add a user; the password comes from a prompt or --password-stdin."""
    from pubkit.server import admin

    password = read_password(password_stdin)
    user = admin.add_user(_catalog(data_dir, storage, catalog), name, password, is_admin)
    typer.echo(f"added user {user.name}{' (admin)' if user.is_admin else ''}")


@app.command("list")
def list_users(
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """List users."""
    for user in _catalog(data_dir, storage, catalog).users():
        flags = "admin" if user.is_admin else "user"
        typer.echo(f"{user.name}\t{flags}\t{user.created.isoformat()}")


@app.command("remove")
def remove(
    name: str = typer.Argument(..., help="User name."),
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Remove a user (their files stay; their roles go)."""
    _catalog(data_dir, storage, catalog).remove_user(name)
    typer.echo(f"removed user {name}")


@app.command("passwd")
def passwd(
    name: str = typer.Argument(..., help="User name."),
    password_stdin: bool = PasswordStdin,
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Set a user's password."""
    from pubkit.server import admin

    catalog_ = _catalog(data_dir, storage, catalog)
    if catalog_.user(name) is None:
        from pubkit.errors import NotFoundError

        raise NotFoundError(f"no user {name!r}; `pubkit user list` shows who exists")
    admin.change_password(catalog_, name, read_password(password_stdin))
    typer.echo(f"changed the password of {name}")
