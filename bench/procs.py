"""Process helpers: start servers in their own process group, wait for them, measure RSS, kill."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests

HOST = "127.0.0.1"


def log(msg: str) -> None:
    """A timestamped progress line on stderr (the table goes to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class Server:
    """A running server process (and its process group) plus where it logs."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    port: int
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


_RUNNING: list[Server] = []
_LOCK = threading.Lock()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start(
    name: str,
    argv: Sequence[str],
    log: Path,
    port: int,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Server:
    """Start ``argv`` in a new session so that the whole tree can be killed at once."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    server = Server(name, proc, log, port)
    with _LOCK:
        _RUNNING.append(server)
    return server


def check_alive(server: Server) -> None:
    """Raise with the exit status and log tail if the server process has gone away."""
    code = server.proc.poll()
    if code is not None:
        raise RuntimeError(f"{server.name} exited with status {code}:\n{server.log_tail()}")


def stop(server: Server, grace: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it lingers."""
    pgid = server.proc.pid
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        try:
            server.proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # Children of the group may outlive the leader for a moment.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    with _LOCK:
        if server in _RUNNING:
            _RUNNING.remove(server)


def stop_all() -> None:
    with _LOCK:
        servers = list(_RUNNING)
    for server in reversed(servers):
        stop(server)


def wait_http(
    server: Server,
    path: str,
    timeout: float = 60.0,
    ok: Callable[[int], bool] = lambda status: status < 500,
) -> None:
    """Poll ``path`` until it answers; raise with the log tail if the process died or timed out."""
    deadline = time.monotonic() + timeout
    url = server.base + path
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.proc.returncode}:\n{server.log_tail()}"
            )
        try:
            if ok(requests.get(url, timeout=2).status_code):
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} not ready at {url} after {timeout}s:\n{server.log_tail()}")


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: split after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def process_tree(pid: int) -> list[int]:
    children = _children_map()
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mib(pid: int) -> float:
    """Sum of VmRSS over ``pid`` and all its descendants, in MiB."""
    return sum(_rss_kib(p) for p in process_tree(pid)) / 1024


def _cpu_ticks(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[1].split()  # fields[0] is field 3 (state)
    return int(fields[11]) + int(fields[12])  # utime + stime


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by ``pid`` and all its (live) descendants."""
    return sum(_cpu_ticks(p) for p in process_tree(pid)) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent busy (all CPUs; idle and iowait excluded)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """Samples the RSS of a process tree every ``interval`` seconds in a background thread."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(tree_rss_mib(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(tree_rss_mib(self.pid))

    @property
    def peak(self) -> float:
        return max(self.samples, default=0.0)
