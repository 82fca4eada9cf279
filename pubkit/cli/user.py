"""``pubkit user``: manage the users of an index (its data, or a running server)."""

from __future__ import annotations

import typer

from pubkit.cli.common import (
    AdminTarget,
    admin_options,
    read_password,
)

app = typer.Typer(help="Manage users (on the data dir, catalog URL or --server).",
                  no_args_is_help=True)  # fmt: skip

PasswordStdin = typer.Option(
    False, "--password-stdin", help="Read the password from the first line of standard input."
)


@app.command("add")
@admin_options
def add(
    target: AdminTarget,
    name: str = typer.Argument(..., help="User name."),
    is_admin: bool = typer.Option(False, "--admin", help="Make the user an administrator."),
    password_stdin: bool = PasswordStdin,
) -> None:
    """Add a user; the password comes from a prompt or --password-stdin."""
    operations = target.operations()
    user = operations.add_user(name, read_password(password_stdin), is_admin)
    typer.echo(f"added user {user.name}{' (admin)' if user.is_admin else ''}")


@app.command("list")
@admin_options
def list_users(target: AdminTarget) -> None:
    """List users: name, admin or user, created."""
    for user in target.operations().users():
        flags = ("admin" if user.is_admin else "user") + (",disabled" if user.disabled else "")
        typer.echo(f"{user.name}\t{flags}\t{user.created.isoformat()}")


@app.command("remove")
@admin_options
def remove(
    target: AdminTarget,
    name: str = typer.Argument(..., help="User name."),
) -> None:
    """Remove a user (their files stay; their roles, memberships and tokens go)."""
    target.operations().remove_user(name)
    typer.echo(f"removed user {name}")


@app.command("passwd")
@admin_options
def passwd(
    target: AdminTarget,
    name: str = typer.Argument(..., help="User name."),
    password_stdin: bool = PasswordStdin,
) -> None:
    """Set a user's password (with --server: as an admin, or as that user with their password)."""
    operations = target.operations()
    operations.set_password(name, read_password(password_stdin))
    typer.echo(f"changed the password of {name}")


@app.command("admin")
@admin_options
def set_admin(
    target: AdminTarget,
    name: str = typer.Argument(..., help="User name."),
    revoke: bool = typer.Option(False, "--revoke", help="Take the administrator flag away."),
) -> None:
    """Make a user an administrator (or, with --revoke, no longer; never the last one)."""
    target.operations().set_admin(name, not revoke)
    typer.echo(f"{name} is {'no longer ' if revoke else ''}an administrator")


@app.command("disable")
@admin_options
def disable(
    target: AdminTarget,
    name: str = typer.Argument(..., help="User name."),
    enable: bool = typer.Option(False, "--enable", help="Enable the user again."),
) -> None:
    """Disable a user: no sign-in with their password, tokens or web sessions (roles,
    memberships and tokens stay); --enable undoes it."""
    target.operations().set_disabled(name, not enable)
    typer.echo(f"{'enabled' if enable else 'disabled'} user {name}")
