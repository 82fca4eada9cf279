"""``pubkit token`` (API tokens) and ``pubkit audit`` (who did what), on the server's data."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer

from pubkit.cli.common import (
    CatalogOption,
    DataDirOption,
    StorageOption,
    local_actor,
    open_server_catalog,
)
from pubkit.errors import UsageError

app = typer.Typer(help="Manage API tokens (on the data dir or catalog URL).",
                  no_args_is_help=True)  # fmt: skip


_catalog = open_server_catalog


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"


@app.command("create")
def create(
    user: str = typer.Option(..., "--user", help="The user the token acts for."),
    projects: list[str] = typer.Option(
        None, "--project", help="Limit the token to this project (repeat for more)."
    ),
    read: bool = typer.Option(False, "--read", help="A token that may only read."),
    upload: bool = typer.Option(False, "--upload", help="A token that may upload (default)."),
    expires: str = typer.Option(None, "--expires", help="Lifetime, e.g. 12h, 30d, 8w."),
    description: str = typer.Option(None, "--description", help="What the token is for."),
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Create a token and print it once (it is stored only as a hash)."""
    from pubkit.server import admin
    from pubkit.server.auth.tokens import parse_duration

    if read and upload:
        raise UsageError("pass --read or --upload, not both")
    token, text = admin.create_token(
        _catalog(data_dir, storage, catalog), user, projects=tuple(projects or ()),
        permission="read" if read else "upload",
        expires_in=parse_duration(expires) if expires else None, description=description,
        actor=local_actor(),
    )  # fmt: skip
    scope = ", ".join(token.projects) if token.projects else "all of the user's projects"
    typer.echo(f"created token {token.id} for {token.user}: {token.permission}, {scope},"
               f" expires {_when(token.expires)}", err=True)  # fmt: skip
    typer.echo("store it now: it is shown only once", err=True)
    typer.echo(text)


@app.command("list")
def list_tokens(
    user: str = typer.Option(None, "--user", help="Only this user's tokens."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """List tokens (never their secrets): id, user, permission, projects, dates, state."""
    from pubkit.server.layout import utc_now

    now = utc_now()
    tokens = _catalog(data_dir, storage, catalog).tokens(user)
    if as_json:
        typer.echo(json.dumps([{
            "id": t.id, "user": t.user, "permission": t.permission,
            "projects": list(t.projects) if t.projects is not None else None,
            "description": t.description, "created": _when(t.created),
            "expires": _when(t.expires) if t.expires else None,
            "last_used": _when(t.last_used) if t.last_used else None, "state": t.state(now),
        } for t in tokens], indent=2))  # fmt: skip
        return
    for t in tokens:
        scope = ",".join(t.projects) if t.projects else "*"
        typer.echo("\t".join([t.id, t.user, t.permission, scope, t.state(now),
                              f"created {_when(t.created)}", f"expires {_when(t.expires)}",
                              f"last used {_when(t.last_used)}"]))  # fmt: skip


@app.command("revoke")
def revoke(
    token: str = typer.Argument(..., help="The token's id, or the token itself."),
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Revoke a token: it stops working at once, on every worker and replica."""
    from pubkit.server import admin

    revoked = admin.revoke_token(_catalog(data_dir, storage, catalog), token, local_actor())
    typer.echo(f"revoked token {revoked.id} of {revoked.user}")


def audit(
    limit: int = typer.Option(100, "--limit", min=1, help="How many entries, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines."),
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Show the audit log: uploads and token changes, who, when, from where."""
    for entry in _catalog(data_dir, storage, catalog).audit_entries(limit):
        if as_json:
            typer.echo(json.dumps({"time": _when(entry.time), "actor": entry.actor,
                                   "address": entry.address, "action": entry.action,
                                   "target": entry.target, "detail": entry.detail}))  # fmt: skip
        else:
            detail = " ".join(f"{k}={v}" for k, v in sorted(entry.detail.items()))
            typer.echo("\t".join([_when(entry.time), entry.actor or "-", entry.address or "-",
                                  entry.action, entry.target, detail]))  # fmt: skip
