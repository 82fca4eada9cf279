"""Starting and seeding pubkit itself (``python -m pubkit ...`` from the running interpreter)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import procs
from corpus import Dist
from upload import upload_all

PUBKIT_USER = "bench"


def pubkit_available() -> str | None:
    """None when ``python -m pubkit serve --help`` works, else the reason why not."""
    proc = subprocess.run(
        [sys.executable, "-m", "pubkit", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode == 0:
        return None
    lines = (proc.stderr or proc.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit status {proc.returncode}"


# pubkit's on-disk format lives here; a cached data dir is reseeded when any of it changes.
_FORMAT_PATHS = ("server/catalog", "server/storage", "server/layout.py")


def format_fingerprint() -> str:
    """sha256 over pubkit's catalog/storage code (the whole package if those paths are gone)."""
    spec = importlib.util.find_spec("pubkit")
    if spec is None or not spec.submodule_search_locations:
        return "unknown"
    root = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(
        f
        for rel in _FORMAT_PATHS
        for f in [root / rel, *(root / rel).rglob("*.py")]
        if f.is_file() and f.suffix == ".py"
    )
    files = files or sorted(root.rglob("*.py"))
    sha = hashlib.sha256()
    for f in files:
        sha.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return sha.hexdigest()[:16]


def add_user(data_dir: Path, password: str) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pubkit",
            "user",
            "add",
            PUBKIT_USER,
            "--password-stdin",
            "--data-dir",
            str(data_dir),
        ],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode:
        raise RuntimeError(f"pubkit user add failed ({proc.returncode}):\n{proc.stderr}")


def start_pubkit(
    data_dir: Path,
    log_dir: Path,
    workers: int = 2,
    read: str | None = None,
    source: Path | None = None,
    metrics: bool | None = None,
) -> procs.Server:
    """``pubkit serve`` on a free port; ``read`` sets ``PUBKIT_READ`` and ``metrics``
    ``PUBKIT_METRICS`` (else they are inherited); ``source``: a directory holding the
    ``pubkit`` package to run (else the importable one)."""
    port = procs.free_port()
    argv = [sys.executable, "-m", "pubkit", "serve", "--host", procs.HOST, "--port", str(port)]
    argv += ["--data-dir", str(data_dir), "--workers", str(workers), "--log-level", "warning"]
    # The default limit is 200 MiB; the big-upload test sends a 200 MiB member plus zip overhead.
    argv += ["--max-upload-size", "512MiB"]
    env = None if read is None else {**os.environ, "PUBKIT_READ": read}
    if metrics is not None:
        env = {**(env or os.environ), "PUBKIT_METRICS": "1" if metrics else "0"}
    cwd = None
    if source is not None:
        # ``python -m`` puts its working directory first on sys.path: run from the source's.
        env, cwd = {**(env or os.environ), "PYTHONPATH": str(source)}, source
    server = procs.start("pubkit", argv, log_dir / "pubkit.log", port, env=env, cwd=cwd)
    # An index that requires authentication to read answers an anonymous /simple/ with 401.
    ready = (200, 401) if read == "authenticated" else (200,)
    procs.wait_http(server, "/simple/", timeout=120, ok=lambda status: status in ready)
    return server


def seed_pubkit(
    state: Path, dists: Sequence[Dist], password: str, log: Callable[[str], None]
) -> None:
    """A pubkit data dir holding the corpus, uploaded over HTTP (cached; ``done`` marker last).

    The cache is dropped when pubkit's catalog/storage code changed since it was seeded.
    """
    fingerprint = format_fingerprint()
    stamp = state / "fingerprint"
    if (state / "done").exists():
        if stamp.exists() and stamp.read_text().strip() == fingerprint:
            return
        log(f"  pubkit's catalog/storage code changed since {state.name} was seeded: reseeding")
    if state.exists():
        shutil.rmtree(state)
    data_dir = state / "data"
    data_dir.mkdir(parents=True)
    add_user(data_dir, password)
    server = start_pubkit(data_dir, state / "logs")
    try:
        secs = upload_all(
            server.base + "/",
            (PUBKIT_USER, password),
            dists,
            progress=lambda n, t: log(f"  pubkit {n}/{t}"),
        )
        log(f"  pubkit seeded {len(dists)} files in {secs:.0f}s ({len(dists) / secs:.0f}/s)")
    except Exception:
        procs.check_alive(server)
        raise
    finally:
        procs.stop(server)
    (state / "password").write_text(password)
    stamp.write_text(fingerprint + "\n")
    (state / "done").write_text("ok\n")
