"""The server process: uvicorn configured from ``PUBKIT_*`` variables.

``pubkit serve`` checks its configuration, then replaces itself with ``python -m
pubkit.server.run``, so the supervisor and its workers carry only the server's modules, not
the CLI's.
"""

from __future__ import annotations

import os
from typing import Any

from pubkit.settings import ServerSettings, load_server_settings


def logging_config(settings: ServerSettings) -> dict[str, Any]:
    level = settings.log_level.upper()
    # Access lines are INFO records: --log-level warning silences them like everything else.
    access_enabled = settings.access_log and level in ("DEBUG", "INFO")
    stderr = {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    access = {"class": "logging.StreamHandler", "formatter": "raw", "stream": "ext://sys.stdout"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "raw": {"format": "%(message)s"},
        },
        "handlers": {"stderr": stderr, "access": access},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": level, "propagate": False},
            "pubkit": {"handlers": ["stderr"], "level": level, "propagate": False},
            "pubkit.access": {
                "handlers": ["access"],
                "level": "INFO" if access_enabled else "WARNING",
                "propagate": False,
            },
        },
    }


def run(settings: ServerSettings) -> None:
    import uvicorn

    uvicorn.run(
        "pubkit.server.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=logging_config(settings),
        access_log=False,  # ours is structured; see pubkit.server.app.AccessLog
        proxy_headers=False,
        # Named explicitly so that workers import neither websockets nor wsproto, and the
        # app is not probed for its interface: less memory, faster start.
        http="httptools",
        ws="none",
        interface="asgi3",
        lifespan="on",
        server_header=False,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=int(settings.graceful_timeout),
    )


if __name__ == "__main__":
    run(load_server_settings(environ=os.environ))
