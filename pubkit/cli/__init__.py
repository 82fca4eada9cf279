"""The ``pubkit`` command: a thin shell over the library that maps errors to exit codes."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import typer

from pubkit import __version__
from pubkit.cli import (
    clierrors,
    group,
    index,
    init,
    migrate,
    project,
    release,
    role,
    serve,
    token,
    upstream,
    user,
    yank,
)
from pubkit.errors import PubkitError

app = typer.Typer(
    name="pubkit",
    help="Release the packages of a monorepo and serve them from a private index.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


DEBUG_VARIABLE = "PUBKIT_DEBUG"
_debug = False


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pubkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    debug: bool = typer.Option(
        False,
        "--debug",
        envvar=DEBUG_VARIABLE,
        help="Show the Python traceback of an unexpected failure. (env: PUBKIT_DEBUG=1)",
    ),
) -> None:
    """pubkit: private index server and monorepo release tool."""
    global _debug
    _debug = debug


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
app.add_typer(upstream.app, name="upstream")
app.add_typer(migrate.app, name="migrate")
app.command("yank")(yank.yank)
app.command("unyank")(yank.unyank)
app.command("delete")(yank.delete)


def main(argv: list[str] | None = None) -> None:
    """Run the command line; every failure is one ``error:`` line on stderr and an exit code:
    2 for usage and configuration errors, 1 for failures, 130 when interrupted."""
    global _debug
    _debug = _debug_from_environment()
    try:
        # Without standalone mode click returns a command's `typer.Exit` code instead of
        # exiting with it, and raises its usage errors for us to print.
        code = app(args=argv, prog_name="pubkit", standalone_mode=False)
    except PubkitError as error:
        _fail(error.message, error.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:
        click_error = clierrors.click_error(error)
        if click_error is not None:
            if click_error.help_text is not None:  # `pubkit user`: the help, as click does
                if click_error.help_text.strip():
                    typer.echo(click_error.help_text, err=True)
                sys.exit(click_error.exit_code)
            _fail(click_error.message, click_error.exit_code)
        if _debug:
            raise
        _fail(clierrors.unexpected(error), 1)
    if isinstance(code, int) and code:
        sys.exit(code)


def _debug_from_environment() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "").strip().lower() in ("1", "true", "yes", "on")


def _fail(message: str, exit_code: int) -> NoReturn:
    typer.echo(f"error: {clierrors.one_line(message)}", err=True)
    sys.exit(exit_code)
