"""``pubkit index``: maintain the catalog from storage; back up, restore and migrate."""

from __future__ import annotations

from pathlib import Path

import typer

from pubkit.cli.common import (
    AdminTarget,
    CatalogOption,
    DataDirOption,
    StorageOption,
    admin_options,
    open_server_catalog,
    open_server_storage,
    require_server_extra,
    server_settings,
)
from pubkit.errors import CatalogError, StorageError, UsageError
from pubkit.settings import redact_url

app = typer.Typer(help="Maintain the index catalog.", no_args_is_help=True)


@app.command("rebuild")
def rebuild(
    without_access: bool = typer.Option(
        False,
        "--without-access",
        help="Rebuild the files even when storage holds no access state (users, roles,"
        " private flags) and the catalog has none: every project is then public.",
    ),
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Recreate the catalog from storage: users, groups, roles, private flags and tokens
    from the newest access snapshot, then the files (safe while the server runs).

    An object it cannot adopt is reported and skipped; the rest is rebuilt, and the exit
    code is then 1."""
    catalog_ = open_server_catalog(data_dir, storage, catalog)
    from pubkit.server.admin import rebuild_catalog

    report = rebuild_catalog(open_server_storage(data_dir, storage, catalog), catalog_,
                             _scratch_dir(data_dir, storage, catalog),
                             without_access=without_access)  # fmt: skip
    if report.access is not None:
        typer.echo(f"access restored from {report.access_snapshot}: {report.access.summary()}")
        for label in report.access.roles_kept:
            typer.echo(f"kept role {label}: the catalog's differs from storage's", err=True)
        for name in report.access.users_kept:
            typer.echo(f"kept user {name}: the catalog's differs from storage's", err=True)
    elif report.access_seeded:
        typer.echo("access state stored: the catalog's users, roles and tokens are now in"
                   " storage too")  # fmt: skip
    elif without_access:
        typer.echo("warning: no access state in storage; every project is public until you"
                   " import an access backup (`pubkit index import FILE`)", err=True)  # fmt: skip
    typer.echo(
        f"{report.files} files in storage: {report.added} added, {report.updated} updated,"
        f" {report.removed} removed from the catalog"
    )
    if report.described:
        typer.echo(f"{report.described} projects' summaries and requirements restored from"
                   " their newest release's metadata")  # fmt: skip
    for line in report.owners_assigned:
        typer.echo(f"owner restored: {line}")
    for key in report.finished:
        typer.echo(f"finished the interrupted upload of {key}")
    for key in report.incomplete:
        typer.echo(
            f"warning: {key} has no sidecar (an interrupted upload); it stays unlisted."
            " Upload the file again or delete it from storage",
            err=True,
        )
    for line in report.skipped:
        typer.echo(f"skipped {line}", err=True)
    if report.skipped:
        raise CatalogError(
            f"{len(report.skipped)} objects could not be adopted (listed above) and were"
            " skipped; everything else was rebuilt. `pubkit index verify` shows them again"
        )


@app.command("verify")
def verify(
    repair: bool = typer.Option(
        False, "--repair", help="Fix what loses nothing: finish interrupted uploads, restore"
        " metadata and sidecars, add, correct or remove catalog rows."
    ),
    deep: bool = typer.Option(
        False, "--deep", help="Also hash every file and metadata (reads all bytes)."
    ),
    force: bool = typer.Option(
        False, "--force", help="With --repair: also delete orphans (objects that no sidecar"
        " claims, older than --grace)."
    ),
    grace: int = typer.Option(
        3600, "--grace", metavar="SECONDS", min=0,
        help="Objects younger than this may belong to an upload under way: not reported.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Check every catalog file against storage (present, size, sha256 from its sidecar)
    and list disagreements, orphans and unreadable objects; exit 1 if any remain."""
    if force and not repair:
        raise UsageError("--force only applies with --repair")
    catalog_ = open_server_catalog(data_dir, storage, catalog)
    from datetime import timedelta

    from pubkit.server.verify import verify as run_verify

    report = run_verify(open_server_storage(data_dir, storage, catalog), catalog_,
                        repair=repair, deep=deep, force=force,
                        grace=timedelta(seconds=grace),
                        tmp_dir=_scratch_dir(data_dir, storage, catalog))  # fmt: skip
    if as_json:
        typer.echo(report.to_json())
    else:
        for finding in report.repaired:
            typer.echo(f"repaired {finding.line()}")
        for finding in report.problems:
            typer.echo(finding.line(), err=True)
        typer.echo(report.summary())
    if report.problems:
        raise typer.Exit(1)


def _scratch_dir(data_dir: Path | None, storage: str | None, catalog: str | None) -> Path | None:
    """Where to copy a file that must be read whole: beside local storage (the data dir's
    tmp/), else the system's temporary directory."""
    settings = server_settings(data_dir, storage, catalog)
    return settings.tmp_dir if settings.storage_url.startswith("file:") else None


def _is_object_url(target: str) -> bool:
    return target.startswith("s3://")


@app.command("export")
def export(
    target: str = typer.Argument(
        ...,
        metavar="FILE|s3://BUCKET/PREFIX/NAME",
        help="Where to write the users, roles and tokens (JSON): a file, or an S3 object.",
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite the target if it exists."),
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Export users (password hashes), groups, project roles and visibility, and tokens
    (hashes) to a file (mode 0600) or an S3 object (encrypted as the bucket encrypts)."""
    catalog_ = open_server_catalog(data_dir, storage, catalog)
    from pubkit.server import backup

    document = backup.export_access(catalog_)
    if _is_object_url(target):
        from pubkit.server.storage import open_object

        bucket, key = open_object(target)
        backup.write_access_object(bucket, key, document, force=force)
    else:
        backup.write_access_file(Path(target), document, force=force)
    if not document["users"]:
        typer.echo("warning: the catalog has no users; check --data-dir or --catalog", err=True)
    projects = {role["project"] for role in document["roles"]}
    private = sum(bool(project.get("private")) for project in document["projects"])
    typer.echo(
        f"exported {len(document['users'])} users, {len(document['groups'])} groups,"
        f" {len(document['roles'])} roles on {len(projects)} projects ({private} private) and"
        f" {len(document['tokens'])} tokens to {redact_url(target)}; it holds password and"
        " token hashes: keep it secret"
    )


@app.command("import")
def import_(
    source: str = typer.Argument(
        ...,
        metavar="FILE|s3://BUCKET/PREFIX/NAME",
        help="A file or S3 object written by `pubkit index export`.",
    ),
    replace: bool = typer.Option(
        False,
        "--replace",
        help="Give existing users the file's password hash and admin flag, existing roles"
        " the file's role, and names the file's upstream rule (default: keep them and report"
        " them).",
    ),
    data_dir: Path = DataDirOption,
    storage: str = StorageOption,
    catalog: str = CatalogOption,
) -> None:
    """Add the users, roles and tokens of an export to the catalog; again, it changes nothing."""
    require_server_extra()
    from pubkit.server import access_format, backup

    if _is_object_url(source):
        from pubkit.server.storage import open_object

        document = backup.read_access_object(*open_object(source))
    else:
        document = backup.read_access_file(Path(source))
    access_format.parse_access(document)  # a bad file is refused before the catalog is opened
    catalog_ = open_server_catalog(data_dir, storage, catalog)
    report = backup.import_access(catalog_, document, replace=replace)
    typer.echo(f"imported {redact_url(source)}: {report.summary()}")
    for name in report.users_kept:
        typer.echo(
            f"kept user {name}: the catalog's password or admin flag differs from the file's;"
            " --replace takes the file's",
            err=True,
        )
    for label in report.roles_kept:
        typer.echo(f"kept role {label}: the file grants another; --replace takes it", err=True)
    for token_id in report.tokens_kept:
        typer.echo(f"kept token {token_id}: the catalog's differs from the file's; --replace"
                   " takes the file's (a revoked token stays revoked)", err=True)  # fmt: skip
    for label in report.rules_kept:
        typer.echo(f"kept upstream rule {label}: the file's differs; --replace takes it",
                   err=True)  # fmt: skip
    for project in report.projects_kept_private:
        typer.echo(f"kept {project} private: an import never makes a project public;"
                   f" `pubkit project public {project}` does", err=True)  # fmt: skip


@app.command("mirror")
def mirror(
    source_url: str = typer.Argument(..., metavar="SRC_URL", help="file:///PATH or s3://…"),
    target_url: str = typer.Argument(..., metavar="DST_URL", help="file:///PATH or s3://…"),
    verify_existing: bool = typer.Option(
        False,
        "--verify-existing",
        help="Hash every object the target already has, rather than trusting sizes and sidecars.",
    ),
) -> None:
    """Copy every file, metadata and sidecar that DST lacks from SRC, verifying hashes.

    Resumable: a second run copies only what is still missing.
    An object that DST holds with other bytes is a conflict: reported, never overwritten.
    """
    require_server_extra()
    from pubkit.server import mirror as mirroring
    from pubkit.server.storage import open_storage

    source, target = open_storage(source_url), open_storage(target_url)

    def show(event: mirroring.MirrorEvent) -> None:
        if event.outcome == "copied":
            typer.echo(f"copied {event.key}")
        elif event.outcome in ("conflict", "failed"):
            typer.echo(f"{event.outcome}: {event.key}: {event.detail}", err=True)

    report = mirroring.mirror(source, target, show, verify_existing=verify_existing)
    typer.echo(f"mirrored {redact_url(source_url)} to {redact_url(target_url)}: {report.summary()}")
    if not report.objects:
        typer.echo("warning: the source holds no objects; check SRC_URL", err=True)
    if not report.complete:
        raise StorageError(
            f"the mirror is incomplete ({len(report.conflicts)} conflicts,"
            f" {len(report.failed)} failed, listed above); fix those objects and run it again"
        )


@app.command("prune")
@admin_options
def prune(
    target: AdminTarget,
    keep: int = typer.Option(10, "--keep", min=0, help="Newest releases of each pruned kind"
                             " kept per project."),
    older_than: str = typer.Option(None, "--older-than", metavar="DURATION",
                                   help="Only remove releases at least this old (30d, 12h)."),
    project: list[str] = typer.Option([], "--project", "-p", help="Only this project"
                                      " (repeatable; default: every project)."),
    pre: bool = typer.Option(False, "--pre", help="Prune pre-releases (a, b, rc) too."),
    finals: bool = typer.Option(False, "--finals", help="Prune final releases too."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would go; change nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Remove old CI builds: dev releases beyond the newest --keep of each project.

    Final releases and pre-releases stay unless --finals / --pre; a release that a kept one
    pins (==) stays too. Every removal is audited; an interrupted prune is finished by
    running it again.
    """
    from pubkit.core.accounts import parse_duration
    from pubkit.core.distributions import normalize_name
    from pubkit.core.retention import RetentionPolicy

    kinds = {"dev"} | ({"pre"} if pre else set()) | ({"final"} if finals else set())
    policy = RetentionPolicy(
        keep=keep,
        older_than=parse_duration(older_than, "--older-than") if older_than else None,
        kinds=frozenset(kinds),
        projects=frozenset(normalize_name(name) for name in project),
    )
    result = target.operations().prune(policy, dry_run=dry_run)
    if as_json:
        import json

        typer.echo(json.dumps(result.to_json(), indent=1))
        return
    verb = "would remove" if dry_run else "removed"
    for name, version, files in result.removed:
        typer.echo(f"{verb} {name} {version} ({files} file(s))")
    for name, version, holder in result.pinned:
        typer.echo(f"kept {name} {version}: {holder} pins it")
    typer.echo(f"{verb} {len(result.removed)} release(s), kept {result.kept}"
               + (" (dry run: nothing changed)" if dry_run else ""))
