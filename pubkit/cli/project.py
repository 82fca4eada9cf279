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


@app.command("reserve")
@admin_options
def reserve(
    target: AdminTarget,
    project: str = typer.Argument(..., help="The name to reserve."),
    release: bool = typer.Option(False, "--release", help="Lift the reservation."),
) -> None:
    """Serve a name only from this index, whatever an upstream has (dependency confusion)."""
    changed = target.operations().reserve(project, not release)
    state = "no longer reserved" if release else "reserved: never taken from an upstream"
    typer.echo(f"{project} {state}{'' if changed else ' (unchanged)'}")


@app.command("track")
@admin_options
def track(
    target: AdminTarget,
    project: str = typer.Argument(..., help="A project of this index."),
    upstream: bool = typer.Option(
        ..., "--upstream/--no-upstream",
        help="Merge the upstream's files of this project into its page (audited), or stop.",
    ),
) -> None:
    """Opt a local project in to (or out of) the upstream's files of the same name."""
    changed = target.operations().track(project, upstream)
    state = "tracks its upstream" if upstream else "is served from this index only"
    typer.echo(f"{project} {state}{'' if changed else ' (unchanged)'}")


@app.command("upstream-min-age")
@admin_options
def upstream_min_age(
    target: AdminTarget,
    project: str = typer.Argument(..., help="The project."),
    age: str = typer.Argument(
        ..., help="Its quarantine: 3d, 12h, 0 (none), or 'default' (the server's).",
    ),
) -> None:
    """How long an upstream file of this project waits before it is offered."""
    from pubkit.errors import UsageError
    from pubkit.settings import parse_duration

    seconds: float | None = None
    if age != "default":
        try:
            seconds = parse_duration(age)
        except ValueError as error:
            raise UsageError(f"{age!r} is not a duration: {error}") from None
    changed = target.operations().set_min_age(project, seconds)
    shown = "the server's default" if seconds is None else f"{seconds:g} s"
    typer.echo(f"{project}: upstream files wait {shown}{'' if changed else ' (unchanged)'}")
