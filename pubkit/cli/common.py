"""Options and helpers shared by the command groups."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from pubkit.errors import UsageError
from pubkit.settings import ServerSettings, load_server_settings

DataDirOption: Any = typer.Option(
    None,
    "--data-dir",
    help="Server data directory (files and SQLite catalog)."
    " (env: PUBKIT_DATA_DIR; default: ./pubkit-data)",
    show_default=False,
)
StorageOption: Any = typer.Option(
    None,
    "--storage",
    help="Storage URL, file:///PATH. (env: PUBKIT_STORAGE; default: DATA_DIR/files)",
)
CatalogOption: Any = typer.Option(
    None,
    "--catalog",
    help="Catalog URL, sqlite:///PATH or postgresql://…."
    " (env: PUBKIT_CATALOG; default: DATA_DIR/catalog.sqlite3)",
)


def server_settings(
    data_dir: Path | None, storage: str | None, catalog: str | None, **more: Any
) -> ServerSettings:
    return load_server_settings(
        {"data_dir": data_dir, "storage": storage, "catalog": catalog, **more}
    )


def read_password(from_stdin: bool, confirm: bool = True) -> str:
    """A password from stdin (one line) or from a prompt on the terminal; never from argv."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageError("no password on standard input; pipe one line to --password-stdin")
        return password
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for a password; pass --password-stdin and pipe it")
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    return value
