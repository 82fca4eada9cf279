"""``pubkit upstream``: the upstream cache's state, and pruning it."""

from __future__ import annotations

import json

import typer

from pubkit.cli.common import AdminTarget, admin_options
from pubkit.errors import UsageError
from pubkit.settings import load_server_settings, parse_duration, upstream_urls

app = typer.Typer(help="The upstream cache (on the data dir, catalog URL or --server).",
                  no_args_is_help=True)  # fmt: skip


def _ratio(counts: dict[str, int] | None, hits: str, misses: str) -> str:
    if not counts:
        return "unknown (ask a running server: --server)"
    total = counts[hits] + counts[misses]
    shown = f"{counts[hits] / total:.0%}" if total else "n/a"
    return f"{shown} ({counts[hits]} from the cache, {counts[misses]} fetched)"


@app.command("status")
@admin_options
def status(
    target: AdminTarget,
    upstream: list[str] = typer.Option(
        None, "--upstream",
        help="The upstream URLs to check, without --server (default: PUBKIT_UPSTREAM).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Each upstream's reachability, the cache's size, its hit ratio and the last error."""
    sources = [u if u.endswith("/") else u + "/" for u in upstream] if upstream else (
        upstream_urls(load_server_settings()))  # fmt: skip
    if not sources and not target.server:
        raise UsageError("no upstream to check; pass --upstream URL or set PUBKIT_UPSTREAM")
    info = target.operations().upstream_status(sources)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    for entry in info["upstreams"]:
        state = "reachable" if entry["reachable"] else f"NOT reachable: {entry['problem']}"
        typer.echo(f"{entry['url']}\t{state}")
    cache = info["cache"]
    typer.echo(f"cache: {cache['files']} files, {cache['pages']} pages, {cache['bytes']} bytes")
    typer.echo(f"pages: {_ratio(info.get('pages'), 'hits', 'fetches')}")
    typer.echo(f"files: {_ratio(info.get('files'), 'hits', 'fetches')}")
    typer.echo(f"last error: {_last_error(info.get('last_error'))}")
    counted = info.get("counted")
    if counted:
        workers = counted.get("workers", [])
        scope = (f"every worker ({len(workers)})" if counted.get("every_worker")
                 else "only the worker that answered")  # fmt: skip
        typer.echo(f"counted: {scope}; answered by worker {counted.get('answered_by')}")
        for worker in workers:
            state = "" if worker.get("running") else " (exited; its counts stay)"
            pages, files = worker["pages"], worker["files"]
            typer.echo(f"  worker {worker['pid']}{state}: pages {pages['hits']} hits"
                       f" {pages['fetches']} fetches {pages['errors']} errors; files"
                       f" {files['hits']} hits {files['fetches']} fetches"
                       f" {files['errors']} errors")  # fmt: skip


def _last_error(error: object) -> str:
    if not error:
        return "none"
    if isinstance(error, dict):  # {"message", "time", "worker"}
        where = f", worker {error['worker']}" if error.get("worker") is not None else ""
        return f"{error.get('message')} (at {error.get('time') or 'an unknown time'}{where})"
    return str(error)  # an older server's: the message alone


@app.command("prune")
@admin_options
def prune(
    target: AdminTarget,
    older_than: str = typer.Option(..., "--older-than", help="Age to remove: 90d, 12h."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would go, remove nothing."),
) -> None:
    """Remove upstream files and pages cached longer ago than --older-than."""
    try:
        seconds = parse_duration(older_than)
    except ValueError as error:
        raise UsageError(f"--older-than {older_than!r}: {error}") from None
    report = target.operations().prune_upstream(seconds, dry_run)
    verb = "would remove" if dry_run else "removed"
    typer.echo(f"{verb} {report['files']} files and {report['pages']} pages"
               f" ({report['bytes']} bytes)")  # fmt: skip
