"""Options and helpers shared by the command groups."""

from __future__ import annotations

import functools
import getpass
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from pubkit.errors import ConfigurationError, UsageError
from pubkit.settings import ServerSettings, load_server_settings

if TYPE_CHECKING:
    from pubkit.core.accounts import AdminOperations
    from pubkit.server.catalog import Catalog
    from pubkit.server.storage import Storage

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
    help="Storage URL: file:///PATH or s3://BUCKET/PREFIX[?options]."
    " (env: PUBKIT_STORAGE; default: DATA_DIR/files)",
)
CatalogOption: Any = typer.Option(
    None,
    "--catalog",
    help="Catalog URL, sqlite:///PATH or postgresql://…."
    " (env: PUBKIT_CATALOG; default: DATA_DIR/catalog.sqlite3)",
)
SERVER_URL_VARIABLE = "PUBKIT_SERVER_URL"
ServerOption: Any = typer.Option(
    None,
    "--server",
    help="Work on a running pubkit server through its admin API instead of local data, e.g."
    " https://pypi.example.com/; credentials from PUBKIT_ADMIN_TOKEN, or"
    " PUBKIT_ADMIN_USERNAME and PUBKIT_ADMIN_PASSWORD. (env: PUBKIT_SERVER_URL)",
    show_default=False,
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


def require_server_extra() -> None:
    """The commands on a server's data need SQLAlchemy, which a pipeline's plain
    ``pip install pubkit`` does not bring: say so in one line instead of a traceback."""
    try:
        import sqlalchemy  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "this command works on an index's data and needs the server extra:"
            " pip install 'pubkit[server]'"
        ) from None


def open_server_catalog(data_dir: Path | None, storage: str | None, catalog: str | None) -> Catalog:
    """The catalog that ``--data-dir``/``--catalog`` (or PUBKIT_*) name."""
    require_server_extra()
    from pubkit.server.access_state import AccessSnapshots
    from pubkit.server.catalog import open_catalog

    opened = open_catalog(server_settings(data_dir, storage, catalog).catalog_url)
    # Access changes made here are stored too (storage opened when the first one is made).
    opened.access_state = AccessSnapshots(lambda: open_server_storage(data_dir, storage, catalog))
    return opened


def open_server_storage(data_dir: Path | None, storage: str | None, catalog: str | None) -> Storage:
    """The storage that ``--data-dir``/``--storage`` (or PUBKIT_*) name."""
    from pubkit.server.storage import open_storage

    return open_storage(server_settings(data_dir, storage, catalog).storage_url)


def local_actor() -> str:
    """Who runs a local admin command, for the audit log."""
    return f"{getpass.getuser()} (local)"


@dataclass(frozen=True)
class AdminTarget:
    """Where an admin command acts: a running server (``--server``) or local data. Opened
    only when the command needs it, so that a refused command touches nothing."""

    server: str | None
    data_dir: Path | None
    storage: str | None
    catalog: str | None

    def operations(self) -> AdminOperations:
        return admin_operations(self.server, self.data_dir, self.storage, self.catalog)


_TARGET_OPTIONS = (
    inspect.Parameter("server", inspect.Parameter.KEYWORD_ONLY, default=ServerOption,
                      annotation=str),
    inspect.Parameter("data_dir", inspect.Parameter.KEYWORD_ONLY, default=DataDirOption,
                      annotation=Path),
    inspect.Parameter("storage", inspect.Parameter.KEYWORD_ONLY, default=StorageOption,
                      annotation=str),
    inspect.Parameter("catalog", inspect.Parameter.KEYWORD_ONLY, default=CatalogOption,
                      annotation=str),
)  # fmt: skip


def admin_options(function: Callable[..., None]) -> Callable[..., None]:
    """An admin command with ``--server``, ``--data-dir``, ``--storage`` and ``--catalog``:
    ``function(target, …)`` gets the :class:`AdminTarget` they name as its first argument,
    and typer sees the four options after the function's own."""
    own = list(inspect.signature(function, eval_str=True).parameters.values())[1:]

    def command(**arguments: Any) -> None:
        target = AdminTarget(*(arguments.pop(option.name) for option in _TARGET_OPTIONS))
        function(target, **arguments)

    functools.update_wrapper(command, function)
    parameters = [*own, *_TARGET_OPTIONS]
    # typer reads the options from the signature and their types from the annotations.
    command.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    command.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
    return command


def admin_operations(
    server: str | None, data_dir: Path | None, storage: str | None, catalog: str | None
) -> AdminOperations:
    """The admin operations a command runs: through the admin API of the server that
    ``--server`` (or PUBKIT_SERVER_URL) names, else on the local data, as :func:`local_actor`.

    The remote path imports no server dependency: ``pip install pubkit`` is enough for it.
    """
    from_env = not server
    url = (server or os.environ.get(SERVER_URL_VARIABLE, "")).strip()
    if url:
        local = [flag for flag, value in (("--data-dir", data_dir), ("--storage", storage),
                                          ("--catalog", catalog)) if value]  # fmt: skip
        if local:
            named = SERVER_URL_VARIABLE if from_env else "--server"
            raise UsageError(
                f"{named} works on a running server and {', '.join(local)} on local data:"
                " pass one or the other"
            )
        from pubkit.adapters.admin_client import AdminClient

        if not _protected(url):
            typer.echo(f"warning: {url} is plain http to another machine: the admin"
                       " credentials cross the network readable; use https", err=True)  # fmt: skip
        return AdminClient.from_environment(url)
    catalog_ = open_server_catalog(data_dir, storage, catalog)
    from pubkit.server.admin import Admin

    return Admin(catalog_, lambda: open_server_storage(data_dir, storage, catalog), local_actor())


def _protected(url: str) -> bool:
    """Whether credentials sent to ``url`` stay off the network or are encrypted on it."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme != "http" or (parts.hostname or "") in ("localhost", "127.0.0.1", "::1")
