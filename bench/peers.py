"""The peers pubkit is compared with: pypiserver, devpi-server and nginx serving a static page."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import procs
import requests
from corpus import BENCH_DIR, Dist
from upload import upload_all

PEERS_VENV = BENCH_DIR / ".venv-peers"
PEER_REQUIREMENTS = (
    "pypiserver[passlib,cache]==2.4.2",
    "gunicorn==27.0.1",
    "devpi-server==6.20.3",
)
APT_HINT = "apt-get update && apt-get install -y wrk nginx"
DEVPI_USER = "bench"
DEVPI_INDEX = "dev"


def peer_bin(name: str) -> Path:
    return PEERS_VENV / "bin" / name


def ensure_peers_venv(log: Callable[[str], None]) -> None:
    """Create ``bench/.venv-peers`` and install the peers (pinned) unless already there."""
    marker = PEERS_VENV / ".bench-requirements"
    wanted = "\n".join(PEER_REQUIREMENTS) + "\n"
    if marker.exists() and marker.read_text() == wanted:
        return
    log(f"installing peers into {PEERS_VENV} ...")
    if not peer_bin("python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    subprocess.run(
        [str(peer_bin("python")), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS], check=True
    )
    marker.write_text(wanted)


def missing_tools() -> list[str]:
    return [tool for tool in ("wrk", "nginx") if shutil.which(tool) is None]


# --- pypiserver -----------------------------------------------------------------------------


def write_htpasswd(path: Path, user: str, password: str) -> None:
    """An htpasswd entry in the ``{SHA}`` scheme, which passlib's HtpasswdFile accepts."""
    digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()  # noqa: S324
    path.write_text(f"{user}:{{SHA}}{digest}\n")


def start_pypiserver(
    run_dir: Path,
    corpus_files: Path,
    user: str,
    password: str,
    workers: int = 2,
    authenticate: Sequence[str] = ("update",),
) -> procs.Server:
    """pypiserver under gunicorn (2 workers, like pubkit), uploads into a per-run directory.

    The first root receives uploads, so the cached corpus directory is only read.
    ``authenticate`` lists the actions that need the htpasswd credentials (pypiserver's
    ``-a``): ``update`` (uploads), ``list`` (the simple pages) and ``download`` (files).
    """
    upload_dir = run_dir / "pypiserver-uploads"
    upload_dir.mkdir(parents=True, exist_ok=True)
    htpasswd = run_dir / "pypiserver.htpasswd"
    write_htpasswd(htpasswd, user, password)
    port = procs.free_port()
    app = (
        f"pypiserver:app(roots=[{str(upload_dir)!r}, {str(corpus_files)!r}], "
        f"password_file={str(htpasswd)!r}, authenticate={list(authenticate)!r}, overwrite=False)"
    )
    argv = [
        str(peer_bin("gunicorn")),
        "--bind",
        f"{procs.HOST}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        "4",
        "--timeout",
        "300",
        "--log-level",
        "warning",
        app,
    ]
    server = procs.start("pypiserver", argv, run_dir / "logs" / "pypiserver.log", port)
    procs.wait_http(server, "/simple/", timeout=120)
    return server


# --- devpi-server ---------------------------------------------------------------------------


def devpi_index_path() -> str:
    return f"/{DEVPI_USER}/{DEVPI_INDEX}/"


_DEVPI_LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler", "level": "WARNING"}},
    "root": {"level": "WARNING", "handlers": ["console"]},
}


def start_devpi(serverdir: Path, log_dir: Path) -> procs.Server:
    """devpi-server, offline, logging warnings only (its default logs a line per request)."""
    port = procs.free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    logger_cfg = log_dir / "devpi-logging.json"
    logger_cfg.write_text(json.dumps(_DEVPI_LOGGING))
    argv = [
        str(peer_bin("devpi-server")),
        "--serverdir",
        str(serverdir),
        "--host",
        procs.HOST,
        "--port",
        str(port),
        "--offline-mode",
        "--logger-cfg",
        str(logger_cfg),
    ]
    server = procs.start("devpi", argv, log_dir / "devpi.log", port)
    procs.wait_http(server, "/+api", timeout=120)
    return server


def init_devpi(serverdir: Path, password: str, log_dir: Path) -> procs.Server:
    """``devpi-init`` without the PyPI mirror, then a user and a stand-alone index."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / "devpi-init.log").open("ab") as out:
        subprocess.run(
            [str(peer_bin("devpi-init")), "--serverdir", str(serverdir), "--no-root-pypi"],
            check=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = start_devpi(serverdir, log_dir)
    session = requests.Session()
    session.trust_env = False
    resp = session.put(
        f"{server.base}/{DEVPI_USER}", json={"password": password, "email": "b@example.invalid"}
    )
    resp.raise_for_status()
    resp = session.put(
        f"{server.base}/{DEVPI_USER}/{DEVPI_INDEX}",
        json={"type": "stage", "bases": [], "volatile": False},
        auth=(DEVPI_USER, password),
    )
    resp.raise_for_status()
    return server


def seed_devpi(
    state: Path,
    dists: Sequence[Dist],
    password: str,
    log: Callable[[str], None],
    method: str = "http",
) -> None:
    """Create a devpi serverdir holding the corpus (cached; ``done`` marker written last).

    ``http`` uploads every file through devpi's legacy upload endpoint. devpi commits about ten
    uploads a second whatever the concurrency, so for big corpora ``import`` writes the same
    content as a devpi export and loads it with ``devpi-import`` instead.
    """
    if (state / "done").exists():
        return
    if state.exists():
        shutil.rmtree(state)
    serverdir = state / "server"
    serverdir.mkdir(parents=True)
    start = time.monotonic()
    if method == "import":
        _seed_devpi_import(state, dists, password)
    else:
        _seed_devpi_http(state, dists, password, log)
    secs = time.monotonic() - start
    log(f"  devpi seeded {len(dists)} files by {method} in {secs:.0f}s")
    (state / "password").write_text(password)
    (state / "method").write_text(method + "\n")
    (state / "done").write_text("ok\n")


def _seed_devpi_http(
    state: Path, dists: Sequence[Dist], password: str, log: Callable[[str], None]
) -> None:
    server = init_devpi(state / "server", password, state / "logs")
    try:
        url = server.base + devpi_index_path()
        upload_all(
            url, (DEVPI_USER, password), dists, progress=lambda n, t: log(f"  devpi {n}/{t}")
        )
    except Exception:
        procs.check_alive(server)
        raise
    finally:
        procs.stop(server)


def _devpi_hash(password: str) -> str:
    """Hash a password with devpi-server's own function (argon2), in the peers venv."""
    code = (
        "import sys; from devpi_server.auth import hash_password as h; print(h(sys.stdin.read()))"
    )
    proc = subprocess.run(
        [str(peer_bin("python")), "-c", code],
        input=password,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def _export_entry(dist: Dist, index: str, relpath: str) -> dict[str, object]:
    digest = hashlib.sha256(dist.path.read_bytes()).hexdigest()
    stamp = time.gmtime(dist.path.stat().st_mtime)
    return {
        "version": dist.version,
        "entrymapping": {
            "last_modified": time.strftime("%a, %d %b %Y %H:%M:%S GMT", stamp),
            "hash_spec": f"sha256={digest}",
            "hashes": {"sha256": digest},
            "project": dist.name,
            "version": dist.version,
        },
        "log": [{"what": "upload", "who": DEVPI_USER, "when": list(stamp[:6]), "dst": index}],
        "type": "releasefile",
        "projectname": dist.name,
        "relpath": relpath,
    }


def write_devpi_export(folder: Path, dists: Sequence[Dist], password: str) -> None:
    """The corpus in devpi-export's format (dumpversion 2): dataindex.json plus the files."""
    index = f"{DEVPI_USER}/{DEVPI_INDEX}"
    projects: dict[str, dict[str, dict[str, object]]] = {}
    files = []
    for dist in dists:
        projects.setdefault(dist.name, {})[dist.version] = {
            "name": dist.name,
            "version": dist.version,
            "metadata_version": "2.1",
            "summary": "pubkit benchmark corpus package",
            "requires_python": ">=3.8",
        }
        relpath = f"{index}/{dist.name}/{dist.version}/{dist.path.name}"
        target = folder / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(dist.path, target)
        files.append(_export_entry(dist, index, relpath))
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    dataindex = {
        "users": {
            name: {"pwhash": _devpi_hash(pw), "created": created, "username": name}
            for name, pw in ((DEVPI_USER, password), ("root", secrets.token_hex(16)))
        },
        "indexes": {
            index: {
                "indexconfig": {
                    "type": "stage",
                    "bases": [],
                    "volatile": False,
                    "acl_upload": [DEVPI_USER],
                    "acl_toxresult_upload": [":ANONYMOUS:"],
                    "mirror_whitelist": [],
                    "mirror_whitelist_inheritance": "intersection",
                },
                "projects": projects,
                "files": files,
            }
        },
        "dumpversion": "2",
        "pythonversion": list(sys.version_info),
        "devpi_server": "6.20.3",
    }
    (folder / "dataindex.json").write_text(json.dumps(dataindex))


def _seed_devpi_import(state: Path, dists: Sequence[Dist], password: str) -> None:
    export = state / "export"
    write_devpi_export(export, dists, password)
    (state / "logs").mkdir(parents=True, exist_ok=True)
    serverdir = state / "server"
    serverdir.rmdir()  # devpi-import wants to create it
    with (state / "logs" / "devpi-import.log").open("ab") as out:
        subprocess.run(
            [peer_bin("devpi-import"), "--serverdir", serverdir, "--no-root-pypi", export],
            check=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    shutil.rmtree(export)


# --- nginx ----------------------------------------------------------------------------------

_NGINX_CONF = """\
{user}worker_processes 2;
daemon off;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {run}/tmp-body;
    proxy_temp_path {run}/tmp-proxy;
    fastcgi_temp_path {run}/tmp-fastcgi;
    uwsgi_temp_path {run}/tmp-uwsgi;
    scgi_temp_path {run}/tmp-scgi;
    types {{ text/html html; application/octet-stream whl gz; }}
    default_type application/octet-stream;
    server {{
        listen {host}:{port};
        root {root};
        index index.html;
    }}
}}
"""


def start_nginx(run_dir: Path, pages: dict[str, bytes]) -> procs.Server:
    """Serve ``pages`` (url path -> body; paths ending in / become index.html) statically."""
    nginx_dir = run_dir / "nginx"
    root = nginx_dir / "root"
    for url_path, body in pages.items():
        rel = url_path.lstrip("/") + ("index.html" if url_path.endswith("/") else "")
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    for dirpath, _dirs, _files in os.walk(nginx_dir):
        Path(dirpath).chmod(0o755)
    port = procs.free_port()
    conf = nginx_dir / "nginx.conf"
    conf.write_text(
        _NGINX_CONF.format(
            user="user root;\n" if os.geteuid() == 0 else "",
            run=nginx_dir,
            host=procs.HOST,
            port=port,
            root=root,
        )
    )
    argv = [shutil.which("nginx") or "nginx", "-c", str(conf), "-p", str(nginx_dir)]
    server = procs.start("nginx", argv, run_dir / "logs" / "nginx.log", port)
    procs.wait_http(server, next(iter(pages)), timeout=20)
    return server
