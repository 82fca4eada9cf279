"""Legacy (twine-style) upload client used to seed the servers over HTTP."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from corpus import Dist
from requests_toolbelt.multipart.encoder import MultipartEncoder  # type: ignore[import-untyped]

_LOCAL = threading.local()
# Status codes that mean "this file is already there": fine when re-seeding.
_ALREADY = {409}


def _session() -> requests.Session:
    session: requests.Session | None = getattr(_LOCAL, "session", None)
    if session is None:
        session = requests.Session()
        session.trust_env = False  # never go through a proxy: 127.0.0.1 only
        _LOCAL.session = session
    return session


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def form_fields(dist: Dist) -> dict[str, str]:
    return {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": "2.1",
        "name": dist.name,
        "version": dist.version,
        "filetype": dist.filetype,
        "pyversion": dist.pyversion,
        "summary": "pubkit benchmark corpus package",
        "sha256_digest": _digest(dist.path),
    }


def upload_one(url: str, auth: tuple[str, str], dist: Dist, retries: int = 3) -> int:
    """POST one file (streamed from disk); returns the HTTP status. Raises on an error status."""
    for attempt in range(retries):
        with dist.path.open("rb") as fh:
            fields: dict[str, object] = dict(form_fields(dist))
            fields["content"] = (dist.path.name, fh, "application/octet-stream")
            body = MultipartEncoder(fields=fields)
            try:
                resp = _session().post(
                    url,
                    data=body,
                    headers={"Content-Type": body.content_type},
                    auth=auth,
                    timeout=600,
                )
            except requests.ConnectionError:
                if attempt == retries - 1:
                    raise
                time.sleep(0.5 * (attempt + 1))
                continue
        if resp.status_code < 300 or resp.status_code in _ALREADY:
            return resp.status_code
        if resp.status_code >= 500 and attempt < retries - 1:
            time.sleep(0.5 * (attempt + 1))
            continue
        raise RuntimeError(
            f"upload of {dist.path.name} to {url} failed: {resp.status_code} {resp.text[:500]}"
        )
    raise RuntimeError(f"upload of {dist.path.name} to {url} failed after {retries} tries")


def upload_all(
    url: str,
    auth: tuple[str, str],
    dists: Sequence[Dist],
    threads: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> float:
    """Upload every file with a thread pool; returns the elapsed seconds."""
    start = time.monotonic()
    done = 0
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(lambda d: upload_one(url, auth, d), dists):
            done += 1
            if progress and (done % 1000 == 0 or done == len(dists)):
                progress(done, len(dists))
    return time.monotonic() - start
