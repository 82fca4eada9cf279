"""``pubkit serve``: run the index server under uvicorn."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import typer

from pubkit.cli.common import CatalogOption, DataDirOption, StorageOption, server_settings
from pubkit.errors import ConfigurationError
from pubkit.settings import ServerSettings, redact_url, settings_environment


def logging_config(settings: ServerSettings) -> dict[str, Any]:
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "raw": {"format": "%(message)s"},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "raw",
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": level, "propagate": False},
            "pubkit": {"handlers": ["stderr"], "level": level, "propagate": False},
            "pubkit.access": {
                "handlers": ["access"],
                "level": "INFO" if settings.access_log else "WARNING",
                "propagate": False,
            },
        },
    }


def _check_can_listen(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ConfigurationError(
                f"cannot listen on {host}:{port}: {error.strerror}; choose another --port"
                " or stop what is using it"
            ) from None


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
    log_level: str = typer.Option(
        None, "--log-level", help="debug, info, warning or error. (env: PUBKIT_LOG_LEVEL)"
    ),
) -> None:
    """Serve the private package index (simple API, uploads, downloads)."""
    import uvicorn

    from pubkit.server.catalog import open_catalog
    from pubkit.server.storage import open_storage

    settings = server_settings(
        data_dir,
        storage,
        catalog,
        host=host,
        port=port,
        workers=workers,
        max_upload_size=max_upload_size,
        read=read,
        log_level=log_level,
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Fail here, with one clear line, rather than in every worker.
    _check_can_listen(settings.host, settings.port)
    open_storage(settings.storage_url).check()
    open_catalog(settings.catalog_url).close()
    os.environ.update(settings_environment(settings))
    typer.echo(
        f"pubkit serving http://{settings.host}:{settings.port}/"
        f" (storage {redact_url(settings.storage_url)}, catalog {redact_url(settings.catalog_url)},"
        f" {settings.workers} worker(s))",
        err=True,
    )
    try:
        uvicorn.run(
            "pubkit.server.app:app_from_environment",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_config=logging_config(settings),
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=int(settings.graceful_timeout),
        )
    except OSError as error:
        raise ConfigurationError(
            f"cannot listen on {settings.host}:{settings.port}: {error.strerror};"
            " choose another --port"
        ) from error
