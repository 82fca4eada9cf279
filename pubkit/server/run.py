"""The server process: uvicorn workers configured from ``PUBKIT_*`` variables.

``pubkit serve`` checks its configuration, then replaces itself with ``python -m
pubkit.server.run``. With one worker, that process serves. With several, it becomes a small
supervisor that binds the socket, starts the workers (each a fresh ``pubkit.server.run``
that inherits the socket), restarts any that dies, and on SIGTERM lets them drain. The
supervisor imports neither asyncio nor uvicorn nor the app: it stays a few MiB.
"""

from __future__ import annotations

import logging
import logging.config
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from pubkit.server.metrics import METRICS_DIR, write_snapshot
from pubkit.settings import ServerSettings, load_server_settings

WORKER_FD = "PUBKIT_WORKER_FD"
# The socket `pubkit serve` bound before it became this process (see cli/serve.py).
LISTEN_FD = "PUBKIT_LISTEN_FD"
# More restarts than this within RESTART_WINDOW seconds means the workers cannot start:
# give up rather than spin.
MAX_RESTARTS = 5
RESTART_WINDOW = 30.0

log = logging.getLogger("pubkit.server")


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
            # Audit lines go out whatever the log level: they are the record of who did what.
            "pubkit.audit": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }


def serve(settings: ServerSettings, listening: socket.socket | None = None) -> None:
    """Serve in this process: on ``listening`` if given, else on the configured address."""
    import uvicorn

    from pubkit.server.limits import HttpLimits, guarded_protocol, raise_fd_limit

    max_connections = raise_fd_limit(settings.max_connections)
    limits = HttpLimits(
        max_header_size=settings.max_header_size,
        header_timeout=settings.header_timeout,
        request_timeout=settings.request_timeout,
        min_body_rate=settings.min_body_rate,
        max_connections=max_connections,
    )
    config = uvicorn.Config(
        "pubkit.server.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=logging_config(settings),
        access_log=False,  # ours is structured; see pubkit.server.observe.Observe
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
        # httptools with the limits of pubkit.server.limits and the reason phrase of refusals
        # (server/protocols.py). Named explicitly so that workers import neither websockets
        # nor wsproto, and the app is not probed for its interface: less memory, faster start.
        http=guarded_protocol(limits),
        ws="none",
        interface="asgi3",
        lifespan="on",
        server_header=False,
        timeout_keep_alive=settings.keep_alive_timeout,  # type: ignore[arg-type]
        timeout_graceful_shutdown=int(settings.graceful_timeout),
    )
    if max_connections < settings.max_connections:  # logged once logging is configured
        log.warning(
            "this process may open too few files for %d connections; serving at most %d per"
            " worker (raise `ulimit -n`)", settings.max_connections, max_connections,
        )  # fmt: skip
    uvicorn.Server(config).run(sockets=[listening] if listening is not None else None)


class Supervisor:
    """Starts ``settings.workers`` workers on one shared socket and keeps them running."""

    def __init__(self, settings: ServerSettings, listening: socket.socket | None = None) -> None:
        self.settings = settings
        self.listening = listening
        self.stopping = False
        self.workers: list[subprocess.Popen[bytes]] = []
        self.restarts: list[float] = []
        self.replaced = 0  # workers started in place of one that exited, ever
        # Where the workers share their metrics (see pubkit.server.metrics); ours to remove.
        self.metrics_dir: Path | None = None

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET
        listening = socket.create_server(
            (self.settings.host, self.settings.port), family=family, backlog=2048
        )
        listening.set_inheritable(True)
        return listening

    def _start_worker(self, listening: socket.socket) -> subprocess.Popen[bytes]:
        env = {**os.environ, WORKER_FD: str(listening.fileno())}
        if self.metrics_dir is not None:
            env[METRICS_DIR] = str(self.metrics_dir)
        return subprocess.Popen(
            [sys.executable, "-m", "pubkit.server.run"], env=env, pass_fds=(listening.fileno(),)
        )

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True

    def _count_restart(self) -> None:
        self.replaced += 1
        if self.metrics_dir is not None:
            snapshot = {"counters": {"pubkit_worker_restarts": [[[], float(self.replaced)]]}}
            write_snapshot(self.metrics_dir / "supervisor.json", snapshot)

    def run(self) -> int:
        # The upstream's status reads every worker's snapshot too (metrics on or not).
        if self.settings.metrics or self.settings.upstream:
            self.metrics_dir = Path(tempfile.mkdtemp(prefix="pubkit-metrics-"))
        try:
            return self._run()
        finally:
            if self.metrics_dir is not None:
                shutil.rmtree(self.metrics_dir, ignore_errors=True)

    def _run(self) -> int:
        listening = self.listening or self._bind()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        self.workers = [self._start_worker(listening) for _ in range(self.settings.workers)]
        log.info("supervisor %d started %d workers", os.getpid(), len(self.workers))
        while not self.stopping:
            time.sleep(0.2)
            for index, worker in enumerate(self.workers):
                if worker.poll() is None or self.stopping:
                    continue
                if not self._may_restart():
                    log.error("workers keep exiting (last status %s); stopping", worker.returncode)
                    self.stopping = True
                    self._stop()
                    return 1
                log.warning("worker %d exited with %s; starting another", worker.pid,
                            worker.returncode)  # fmt: skip
                self.workers[index] = self._start_worker(listening)
                self._count_restart()
        self._stop()
        return 0

    def _may_restart(self) -> bool:
        now = time.monotonic()
        self.restarts = [t for t in self.restarts if now - t < RESTART_WINDOW] + [now]
        return len(self.restarts) <= MAX_RESTARTS

    def _stop(self) -> None:
        """SIGTERM every worker, let them drain, then kill what is left."""
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.graceful_timeout + 5
        for worker in self.workers:
            try:
                worker.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def main() -> int:
    settings = load_server_settings(environ=os.environ)
    inherited = os.environ.pop(WORKER_FD, None)
    if inherited is not None:
        serve(settings, socket.socket(fileno=int(inherited)))
        return 0
    bound = os.environ.pop(LISTEN_FD, None)
    listening = socket.socket(fileno=int(bound)) if bound is not None else None
    if settings.workers == 1:
        serve(settings, listening)
        return 0
    logging.config.dictConfig(logging_config(settings))
    return Supervisor(settings, listening).run()


if __name__ == "__main__":
    sys.exit(main())
