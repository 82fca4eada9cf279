"""Frozen settings and their pure loading.

Precedence: explicit values (the CLI's options) > ``PUBKIT_*`` environment variables >
defaults. Loading never touches the disk; it only reads the mappings it is given.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pubkit.core.distributions import normalize_name
from pubkit.errors import ConfigurationError

MIB = 1024 * 1024
ENV_PREFIX = "PUBKIT_"
DOWNLOAD_MODES = ("proxy", "redirect")
READ_POLICIES = ("public", "authenticated")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def default_data_dir() -> Path:
    return Path("pubkit-data")


@dataclass(frozen=True)
class ServerSettings:
    """Everything the index server and the admin commands need to know."""

    data_dir: Path = field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    # Where files live and where the catalog is; empty means "inside data_dir".
    storage: str = ""
    catalog: str = ""
    max_upload_size: int = 200 * MIB
    read: str = "public"
    # Who may create a project by uploading to a new name: any (signed-in user), admins, or
    # a comma-separated list of @groups (administrators always may).
    create_projects: str = "any"
    # How long a verified password stays verified in a worker's memory after its last use.
    password_cache_seconds: float = 60.0
    # Failed sign-ins a client address (or an account) may make per minute, per worker.
    auth_failures_per_minute: int = 10
    # Proxies (IPs or CIDRs, comma-separated, or *) whose X-Forwarded-For names the client:
    # behind an ingress, the address that failed sign-ins are counted by.
    trusted_proxies: str = ""
    # The longest a client may leave the server waiting for the next piece of a request
    # (body) or for its reading of the answer.
    request_timeout: float = 30.0
    # HTTP limits a reverse proxy would set (pubkit/server/limits.py): the request head
    # (line and headers) must arrive within header_timeout seconds and max_header_size bytes;
    # a body must keep an average of min_body_rate bytes/s after its first request_timeout
    # seconds; an idle keep-alive connection is closed after keep_alive_timeout seconds; a
    # worker holds at most max_connections connections (idle ones are dropped first, then
    # new ones get 503).
    max_header_size: int = 32 * 1024
    header_timeout: float = 10.0
    min_body_rate: int = 1024
    keep_alive_timeout: float = 5.0
    max_connections: int = 1000
    # How long in-flight requests may take to finish on shutdown.
    graceful_timeout: float = 20.0
    log_level: str = "info"
    access_log: bool = True
    # Prometheus metrics at /metrics (counted per worker, summed across workers).
    metrics: bool = True
    # How long a read waits for a PostgreSQL catalog's serial before it is served from the
    # pages the worker already has (marked stale); SQLite's serial is read inline.
    stale_after: float = 0.25
    # How many bytes of rendered simple pages each worker keeps.
    page_cache_size: int = 8 * MIB
    # proxy: stream files through the server; redirect: 302 to a presigned storage URL (S3).
    download_mode: str = "proxy"
    # How long a presigned download URL is valid; a worker hands out the same URL for the
    # first half of that, so clients' HTTP caches keep hitting.
    presign_seconds: int = 3600
    # Upstream indexes (PEP 691/503 simple URLs, space-separated; the first that has a
    # project wins) whose projects this index also answers for: see pubkit/server/upstream/.
    upstream: str = ""
    # cache: fetch a file at its first download, keep it in storage, serve it from there;
    # redirect: link the upstream's own file URLs.
    upstream_mode: str = "cache"
    # Names served only from this index whatever the upstream has: fnmatch patterns on the
    # normalized name, comma-separated (acme-*,internal-*).
    internal_names: str = ""
    # Files an upstream page dates less than this long ago are not offered (seconds).
    upstream_min_age: float = 0.0
    # How long an upstream page is used without asking the upstream again (seconds).
    upstream_ttl: float = 600.0
    # The bound on one upstream request (connect, then each read, then the whole answer).
    upstream_timeout: float = 10.0
    # /simple/ also lists the upstream projects whose pages are cached (never a name the
    # guard keeps local, nor a page without a file past its quarantine).
    upstream_list_cached: bool = False

    @property
    def storage_url(self) -> str:
        return self.storage or (self.data_dir / "files").resolve().as_uri()

    @property
    def catalog_url(self) -> str:
        return self.catalog or f"sqlite:///{(self.data_dir / 'catalog.sqlite3').resolve()}"

    @property
    def tmp_dir(self) -> Path:
        """Where uploads are spooled while they are checked; on the data dir's filesystem."""
        return self.data_dir / "tmp"


_CONVERTERS: dict[str, Any] = {
    "data_dir": Path,
    "port": int,
    "workers": int,
    "max_upload_size": int,
    "password_cache_seconds": float,
    "request_timeout": float,
    "graceful_timeout": float,
    "stale_after": float,
    "presign_seconds": int,
    "auth_failures_per_minute": int,
    "header_timeout": float,
    "min_body_rate": int,
    "keep_alive_timeout": float,
    "max_connections": int,
    "upstream_min_age": lambda raw: parse_duration(raw),
    "upstream_ttl": lambda raw: parse_duration(raw),
    "upstream_timeout": float,
}


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{raw!r} is not a boolean")


def _convert(name: str, raw: Any, source: str) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        if name in ("access_log", "metrics", "upstream_list_cached"):
            return _parse_bool(raw)
        if name in ("max_upload_size", "page_cache_size", "max_header_size"):
            return parse_size(raw)
        converter = _CONVERTERS.get(name)
        return converter(raw) if converter else raw
    except ValueError as error:
        raise ConfigurationError(
            f"{source} has an invalid value {raw!r} ({error}); fix it or unset it"
        ) from None


def parse_size(raw: str) -> int:
    """``200MiB``, ``1GiB``, ``512k`` or a plain number of bytes."""
    text = raw.strip().lower().replace(" ", "")
    units = {"gib": 1024**3, "mib": MIB, "kib": 1024, "g": 1024**3, "m": MIB, "k": 1024, "b": 1}
    try:
        for suffix, factor in units.items():
            if text.endswith(suffix):
                return int(float(text[: -len(suffix)]) * factor)
        return int(text)
    except ValueError:
        raise ValueError("a size is a number of bytes or of k, m, g, KiB, MiB, GiB") from None


def parse_duration(raw: str) -> float:
    """``3d``, ``12h``, ``30m``, ``45s`` or a plain number of seconds."""
    text = raw.strip().lower().replace(" ", "")
    units = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
    factor = units.get(text[-1:]) if text else None
    try:
        value = float(text[:-1]) * factor if factor is not None else float(text)
    except ValueError:
        raise ValueError("a duration is a number of seconds or of s, m, h, d (3d)") from None
    if value < 0 or value != value:
        raise ValueError("a duration cannot be negative")
    return value


UPSTREAM_MODES = ("cache", "redirect")


def load_server_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> ServerSettings:
    """Build settings from explicit overrides (``None`` values are ignored) and the environment."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in fields(ServerSettings):
        env_name = ENV_PREFIX + setting.name.upper()
        if env_name in environ and environ[env_name] != "":
            values[setting.name] = _convert(setting.name, environ[env_name], env_name)
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = _convert(name, value, f"--{name.replace('_', '-')}")
    settings = ServerSettings(**values)
    _validate(settings)
    return settings


def _validate(settings: ServerSettings) -> None:
    if not 0 < settings.port < 65536:
        raise ConfigurationError(f"port {settings.port} is out of range; use 1 to 65535")
    if settings.workers < 1:
        raise ConfigurationError(f"workers must be at least 1, not {settings.workers}")
    if settings.max_upload_size < 1:
        raise ConfigurationError("max upload size must be a positive number of bytes")
    if settings.read not in READ_POLICIES:
        raise ConfigurationError(
            f"read policy {settings.read!r} is unknown; use one of {', '.join(READ_POLICIES)}"
        )
    _validate_creators(settings.create_projects)
    if settings.request_timeout <= 0:
        raise ConfigurationError("request timeout must be a positive number of seconds")
    if not 0 < settings.stale_after <= 60:
        raise ConfigurationError("stale after must be between 0 and 60 seconds")
    for name in ("header_timeout", "keep_alive_timeout"):
        if getattr(settings, name) <= 0:
            raise ConfigurationError(
                f"{name.replace('_', ' ')} must be a positive number of seconds"
            )
    if settings.max_header_size < 1024:
        raise ConfigurationError("max header size must be at least 1KiB")
    if settings.min_body_rate < 1:
        raise ConfigurationError("min body rate must be at least 1 byte per second")
    if settings.max_connections < 1:
        raise ConfigurationError("max connections must be at least 1")
    if settings.auth_failures_per_minute < 1:
        raise ConfigurationError("auth failures per minute must be at least 1")
    if settings.download_mode not in DOWNLOAD_MODES:
        raise ConfigurationError(
            f"download mode {settings.download_mode!r} is unknown; use proxy or redirect"
        )
    if settings.log_level.lower() not in LOG_LEVELS:
        raise ConfigurationError(
            f"log level {settings.log_level!r} is unknown; use one of {', '.join(LOG_LEVELS)}"
        )
    _validate_upstream(settings)
    if not 60 <= settings.presign_seconds <= 7 * 24 * 3600:
        raise ConfigurationError("presign seconds must be between 60 and 604800 (7 days)")


def upstream_urls(settings: ServerSettings) -> list[str]:
    """The upstream simple URLs, in order, each ending in a slash."""
    return [url if url.endswith("/") else url + "/" for url in settings.upstream.split()]


def internal_patterns(settings: ServerSettings) -> list[str]:
    """The ``--internal-names`` patterns, spelled as the names they are matched against are
    (PEP 503: lowercase, runs of ``-_.`` one ``-``), so that ``acme_*`` guards ``acme-core``."""
    return [normalize_name(part.strip()) for part in settings.internal_names.split(",")
            if part.strip()]  # fmt: skip


def _validate_upstream(settings: ServerSettings) -> None:
    for url in upstream_urls(settings):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                f"upstream {redact_url(url)!r} is not an http(s) URL; give the index's simple"
                " URL, e.g. https://pypi.org/simple/"
            )
    if settings.upstream_mode not in UPSTREAM_MODES:
        raise ConfigurationError(
            f"upstream mode {settings.upstream_mode!r} is unknown; use cache or redirect"
        )
    if not 0 < settings.upstream_timeout <= 300:
        raise ConfigurationError("upstream timeout must be between 0 and 300 seconds")
    if settings.upstream_ttl < 0:
        raise ConfigurationError("upstream ttl cannot be negative")


def _validate_creators(value: str) -> None:
    if value in ("any", "admins"):
        return
    groups = [part.strip() for part in value.split(",")]
    if not groups or any(not group.startswith("@") or len(group) < 2 for group in groups):
        raise ConfigurationError(
            f"create projects {value!r} is not understood; use any, admins or @group[,@group…]"
        )


def settings_environment(settings: ServerSettings) -> dict[str, str]:
    """The ``PUBKIT_*`` variables that reproduce ``settings`` in another process."""
    env: dict[str, str] = {}
    for setting in fields(ServerSettings):
        value = getattr(settings, setting.name)
        if isinstance(value, bool):
            value = "1" if value else "0"
        env[ENV_PREFIX + setting.name.upper()] = str(value)
    return env


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages and logs; a user name
    without a password is a token (``https://TOKEN@host/``, sent as the user): replaced too."""
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    keep = parts.username if parts.password is not None else None
    netloc = f"{keep}:***@{host}" if keep else f"***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))
