"""``pubkit serve``: run the index server under uvicorn."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import typer

from pubkit.cli.common import (
    CatalogOption,
    DataDirOption,
    StorageOption,
    require_server_extra,
    server_settings,
)
from pubkit.errors import ConfigurationError
from pubkit.settings import redact_url, settings_environment


def _listen(host: str, port: int) -> socket.socket:
    """The server's listening socket, bound here and handed to the server process across
    ``exec``: a port that is taken fails now, in one line, and a port that was free cannot
    be taken by someone else between this check and the server's start."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        listening = socket.create_server((host, port), family=family, backlog=2048)
    except OSError as error:
        raise ConfigurationError(
            f"cannot listen on {host}:{port}: {error.strerror}; choose another --port"
            " or stop what is using it"
        ) from None
    listening.set_inheritable(True)
    return listening


def serve(
    host: str = typer.Option(
        None, "--host", help="Address to listen on. (env: PUBKIT_HOST; default: 127.0.0.1)"
    ),
    port: int = typer.Option(
        None, "--port", help="Port to listen on. (env: PUBKIT_PORT; default: 8080)"
    ),
    data_dir: Path = DataDirOption,
    workers: int = typer.Option(
        None, "--workers", help="Worker processes. (env: PUBKIT_WORKERS; default: 1)"
    ),
    storage: str = StorageOption,
    catalog: str = CatalogOption,
    max_upload_size: str = typer.Option(
        None,
        "--max-upload-size",
        help="Largest accepted file, e.g. 200MiB. (env: PUBKIT_MAX_UPLOAD_SIZE)",
    ),
    read: str = typer.Option(
        None,
        "--read",
        help="Who may read: public or authenticated. (env: PUBKIT_READ; default: public)",
    ),
    create_projects: str = typer.Option(
        None,
        "--create-projects",
        help="Who may create a project by uploading a new name: any, admins or"
        " @group[,@group…]. (env: PUBKIT_CREATE_PROJECTS; default: any)",
    ),
    log_level: str = typer.Option(
        None, "--log-level", help="debug, info, warning or error. (env: PUBKIT_LOG_LEVEL)"
    ),
    download_mode: str = typer.Option(
        None,
        "--download-mode",
        help="proxy (stream files through the server) or redirect (302 to a presigned S3 URL)."
        " (env: PUBKIT_DOWNLOAD_MODE; default: proxy)",
    ),
    upstream: list[str] = typer.Option(
        None,
        "--upstream",
        help="An upstream index's simple URL (PEP 691/503) whose projects this index also"
        " serves; repeatable, the first that has a project wins. Credentials may be in the"
        " URL. (env: PUBKIT_UPSTREAM, space-separated)",
    ),
    upstream_mode: str = typer.Option(
        None,
        "--upstream-mode",
        help="cache (fetch a file at its first download, keep it, serve it from storage) or"
        " redirect (link the upstream's files). (env: PUBKIT_UPSTREAM_MODE; default: cache)",
    ),
    internal_names: str = typer.Option(
        None,
        "--internal-names",
        help="Names never taken from an upstream, as patterns: 'acme-*,corp-*' (matched as"
        " PEP 503 names: acme_* is acme-*). (env: PUBKIT_INTERNAL_NAMES)",
    ),
    upstream_min_age: str = typer.Option(
        None,
        "--upstream-min-age",
        help="Quarantine: upstream files published less than this long ago (3d, 12h) are not"
        " offered. (env: PUBKIT_UPSTREAM_MIN_AGE; default: 0)",
    ),
    upstream_ttl: str = typer.Option(
        None,
        "--upstream-ttl",
        help="How long an upstream page is used before it is revalidated (10m)."
        " (env: PUBKIT_UPSTREAM_TTL; default: 10m)",
    ),
    upstream_timeout: str = typer.Option(
        None,
        "--upstream-timeout",
        help="Seconds an upstream may take to connect, per read, and (three times) for a page"
        " or a file's headers (a file's body: 16 KiB/s on average after that); then the cached"
        " page is served, marked stale. (env: PUBKIT_UPSTREAM_TIMEOUT; default: 10)",
    ),
    upstream_list_cached: bool = typer.Option(
        False,
        "--upstream-list-cached",
        help="/simple/ also lists the upstream projects whose pages are cached (never a name"
        " kept local: a project here, reserved or --internal-names), refreshed every few"
        " seconds. (env: PUBKIT_UPSTREAM_LIST_CACHED; default: off)",
    ),
) -> None:
    """Serve the private package index (simple API, uploads, downloads)."""
    require_server_extra()
    from pubkit.server.catalog import open_catalog
    from pubkit.server.private_files import ensure_directory
    from pubkit.server.run import LISTEN_FD
    from pubkit.server.storage import open_storage
    from pubkit.server.storage.base import Presigning

    settings = server_settings(
        data_dir,
        storage,
        catalog,
        host=host,
        port=port,
        workers=workers,
        max_upload_size=max_upload_size,
        read=read,
        create_projects=create_projects,
        log_level=log_level,
        download_mode=download_mode,
        upstream=" ".join(upstream) if upstream else None,
        upstream_mode=upstream_mode,
        internal_names=internal_names,
        upstream_min_age=upstream_min_age,
        upstream_ttl=upstream_ttl,
        upstream_timeout=upstream_timeout,
        upstream_list_cached=True if upstream_list_cached else None,  # else: the environment
    )
    ensure_directory(settings.data_dir, "the data directory",
                     "choose another --data-dir (or PUBKIT_DATA_DIR)")  # fmt: skip
    # Fail here, with one clear line, rather than in every worker.
    listening = _listen(settings.host, settings.port)
    files = open_storage(settings.storage_url)
    files.check()
    if settings.download_mode == "redirect" and not isinstance(files, Presigning):
        raise ConfigurationError(
            "--download-mode redirect needs a storage that presigns URLs (s3://…); use proxy"
        )
    open_catalog(settings.catalog_url).close()
    os.environ.update(settings_environment(settings))
    os.environ[LISTEN_FD] = str(listening.fileno())
    if settings.upstream:
        from pubkit.settings import upstream_urls

        typer.echo("upstream: " + ", ".join(redact_url(url) for url in upstream_urls(settings))
                   + f" ({settings.upstream_mode})", err=True)  # fmt: skip
    typer.echo(
        f"pubkit serving http://{settings.host}:{settings.port}/"
        f" (storage {redact_url(settings.storage_url)}, catalog {redact_url(settings.catalog_url)},"
        f" {settings.workers} worker(s))",
        err=True,
    )
    # Become the server process: it carries only the server's modules, not the CLI's.
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "pubkit.server.run"])  # noqa: S606
