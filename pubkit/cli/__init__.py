"""The ``pubkit`` command: a thin shell over the library that maps errors to exit codes."""

from __future__ import annotations

import sys

import typer

from pubkit import __version__
from pubkit.cli import group, index, init, migrate, project, release, role, serve, token, user, yank
from pubkit.errors import PubkitError

app = typer.Typer(
    name="pubkit",
    help="Release the packages of a monorepo and serve them from a private index.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pubkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """pubkit: private index server and monorepo release tool."""


app.command("init")(init.init)
app.command("plan")(release.plan)
app.command("graph")(release.graph)
app.command("build")(release.build)
app.command("check")(release.check)
app.command("test")(release.test)
app.command("publish")(release.publish)
app.command("release")(release.release)
app.command("serve")(serve.serve)
app.add_typer(user.app, name="user")
app.add_typer(token.app, name="token")
app.add_typer(group.app, name="group")
app.add_typer(role.app, name="role")
app.add_typer(project.app, name="project")
app.command("audit")(token.audit)
app.add_typer(index.app, name="index")
app.add_typer(migrate.app, name="migrate")
app.command("yank")(yank.yank)
app.command("unyank")(yank.unyank)
app.command("delete")(yank.delete)


def main(argv: list[str] | None = None) -> None:
    try:
        # Without standalone mode click returns a command's `typer.Exit` code instead of
        # exiting with it.
        code = app(args=argv, standalone_mode=False)
    except PubkitError as error:
        typer.echo(f"error: {error.message}", err=True)
        sys.exit(error.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # click's usage errors and the like
        import click

        if isinstance(error, click.ClickException):
            error.show()
            sys.exit(error.exit_code)
        raise
    if isinstance(code, int) and code:
        sys.exit(code)
