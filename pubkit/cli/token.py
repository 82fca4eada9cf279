"""``pubkit token`` (API tokens) and ``pubkit audit`` (who did what), on an index's data or a
running server."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import typer

from pubkit.cli.common import (
    AdminTarget,
    admin_options,
)
from pubkit.core.accounts import parse_duration
from pubkit.errors import UsageError

app = typer.Typer(help="Manage API tokens (on the data dir, catalog URL or --server).",
                  no_args_is_help=True)  # fmt: skip


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"


@app.command("create")
@admin_options
def create(
    target: AdminTarget,
    user: str = typer.Option(..., "--user", help="The user the token acts for."),
    projects: list[str] = typer.Option(
        None, "--project", help="Limit the token to this project (repeat for more)."
    ),
    read: bool = typer.Option(False, "--read", help="A token that may only read."),
    upload: bool = typer.Option(False, "--upload", help="A token that may upload (default)."),
    expires: str = typer.Option(None, "--expires", help="Lifetime, e.g. 12h, 30d, 8w."),
    description: str = typer.Option(None, "--description", help="What the token is for."),
) -> None:
    """Create a token and print it once (it is stored only as a hash)."""
    if read and upload:
        raise UsageError("pass --read or --upload, not both")
    expires_in = parse_duration(expires) if expires else None
    token, text = target.operations().create_token(
        user, projects=tuple(projects or ()), permission="read" if read else "upload",
        expires_in=expires_in, description=description,
    )  # fmt: skip
    scope = ", ".join(token.projects) if token.projects else "all of the user's projects"
    typer.echo(f"created token {token.id} for {token.user}: {token.permission}, {scope},"
               f" expires {_when(token.expires)}", err=True)  # fmt: skip
    typer.echo("store it now: it is shown only once", err=True)
    typer.echo(text)


@app.command("list")
@admin_options
def list_tokens(
    target: AdminTarget,
    user: str = typer.Option(None, "--user", help="Only this user's tokens."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List tokens (never their secrets): id, user, permission, projects, dates, state."""
    tokens = target.operations().tokens(user)
    now = datetime.now(timezone.utc)
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
@admin_options
def revoke(
    target: AdminTarget,
    token: str = typer.Argument(..., help="The token's id, or the token itself."),
) -> None:
    """Revoke a token: it stops working at once, on every worker and replica."""
    revoked = target.operations().revoke_token(token)
    typer.echo(f"revoked token {revoked.id} of {revoked.user}")


@admin_options
def audit(
    target: AdminTarget,
    limit: int = typer.Option(100, "--limit", min=1, help="How many entries, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines."),
) -> None:
    """Show the audit log, newest first: who changed what, when, from where."""
    for entry in target.operations().audit(limit):
        if as_json:
            typer.echo(json.dumps({"time": _when(entry.time), "actor": entry.actor,
                                   "address": entry.address, "action": entry.action,
                                   "target": entry.target, "detail": entry.detail}))  # fmt: skip
        else:
            detail = " ".join(f"{k}={v}" for k, v in sorted(entry.detail.items()))
            typer.echo("\t".join([_when(entry.time), entry.actor or "-", entry.address or "-",
                                  entry.action, entry.target, detail]))  # fmt: skip
