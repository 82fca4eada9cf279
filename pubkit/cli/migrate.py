"""``pubkit migrate``: move a pypiserver directory or a pypicloud bucket into pubkit."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from pubkit.cli.common import (
    CatalogOption,
    DataDirOption,
    StorageOption,
    local_actor,
    open_server_catalog,
    open_server_storage,
    require_server_extra,
    server_settings,
)
from pubkit.errors import PubkitError, UsageError

if TYPE_CHECKING:
    from pubkit.server.migrate.run import MigrationEvent
    from pubkit.server.migrate.sources import Source

app = typer.Typer(
    help="Move another index's files and users into pubkit (re-runnable).", no_args_is_help=True
)

OwnerOption: Any = typer.Option(
    ...,
    "--owner",
    help="The pubkit user (or a user of --htpasswd) who owns every project the migration"
    " creates; projects pubkit has already keep their owners.",
    show_default=False,
)
HtpasswdOption: Any = typer.Option(
    None,
    "--htpasswd",
    help="An Apache htpasswd file (pypiserver's --passwords): its bcrypt and SHA-crypt users"
    " are added; weaker hashes are refused, one line each.",
    show_default=False,
)
DryRunOption: Any = typer.Option(
    False, "--dry-run", help="Check every file and user and say what would change; change nothing."
)


class MigrationIncomplete(PubkitError):
    """Some files or users could not be moved (listed as they were met)."""


@app.command("from-pypiserver")
def from_pypiserver(
    directory: Path = typer.Argument(
        ..., metavar="DIR", help="pypiserver's package directory (flat or per project)."
    ),
    owner: str = OwnerOption,
    htpasswd: Path = HtpasswdOption,
    dry_run: bool = DryRunOption,
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Move a pypiserver package directory (and htpasswd users) into pubkit.

    Every wheel and sdist, flat or in per-project directories, byte for byte; run again, it
    changes nothing, and an interrupted run finishes the job."""
    require_server_extra()
    from pubkit.server.migrate.sources import DirectorySource

    _migrate(DirectorySource(directory), owner, htpasswd, dry_run, data_dir, storage, catalog)


@app.command("from-pypicloud")
def from_pypicloud(
    url: str = typer.Argument(
        ..., metavar="s3://BUCKET/PREFIX", help="pypicloud's bucket and storage.prefix."
    ),
    owner: str = OwnerOption,
    htpasswd: Path = HtpasswdOption,
    dry_run: bool = DryRunOption,
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Move pypicloud's S3 storage (and htpasswd users) into pubkit.

    Every wheel and sdist under the prefix (keys <prefix>[<hash>/]<name>/<file>), byte for
    byte; run again, it changes nothing, and an interrupted run finishes the job."""
    require_server_extra()
    if not url.startswith("s3://"):
        raise UsageError(f"{url!r} is not an s3:// URL; pass s3://BUCKET/PREFIX")
    from pubkit.server.migrate.sources import BucketSource

    _migrate(BucketSource(url), owner, htpasswd, dry_run, data_dir, storage, catalog)


def _read_htpasswd(path: Path | None) -> tuple[list[Any], list[Any]]:
    from pubkit.server.migrate.htpasswd import parse_htpasswd

    if path is None:
        return [], []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist; pass pypiserver's htpasswd file") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "it is not UTF-8 text"
        raise UsageError(f"cannot read {path}: {reason}") from None
    return parse_htpasswd(text)


def _show(event: MigrationEvent) -> None:
    where, detail = event.location, event.detail
    if event.outcome in ("imported", "would import"):
        typer.echo(f"{event.outcome} {where} as {detail}")
    elif event.outcome in ("user added", "user would be added"):
        typer.echo(f"{event.outcome}: {where} ({detail})")
    elif event.outcome == "skipped":
        typer.echo(f"skipped {where}: {detail}")
    elif event.outcome == "note":
        typer.echo(f"note: {where}: {detail}", err=True)
    elif event.outcome == "user refused":
        typer.echo(f"refused: {detail}", err=True)
    elif event.outcome in ("refused", "conflict"):
        typer.echo(f"{event.outcome}: {where}: {detail}", err=True)


def _migrate(
    source: Source, owner: str, htpasswd: Path | None, dry_run: bool,
    data_dir: Path | None, storage: str | None, catalog: str | None,
) -> None:  # fmt: skip
    from pubkit.server.migrate.run import Migration, run_migration

    users, refused = _read_htpasswd(htpasswd)
    catalog_ = open_server_catalog(data_dir, storage, catalog)
    migration = Migration(
        source, open_server_storage(data_dir, storage, catalog), catalog_,
        server_settings(data_dir, storage, catalog).tmp_dir, owner=owner, actor=local_actor(),
        dry_run=dry_run, on_event=_show,
    )  # fmt: skip
    report = run_migration(migration, users, refused)
    prefix = "dry run: " if dry_run else ""
    typer.echo(f"{prefix}{source.description}: {report.summary(dry_run)}")
    if not dry_run and not report.changed:
        typer.echo("nothing changed: pubkit already had every file and user it could take")
    if report.failures:
        counts = report.counts
        files = counts["refused"] + counts["conflict"]
        raise MigrationIncomplete(
            f"{files} files and {counts['user refused']} users were not migrated (listed above);"
            " fix them and run the migration again (what pubkit has stays as it is)"
        )
