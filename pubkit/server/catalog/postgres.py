"""A PostgreSQL catalog's engine: every wait on the database has a bound.

A PostgreSQL that stops answering (a paused process, a proxy or a network that holds the
bytes) still acknowledges TCP, so keepalives and ``tcp_user_timeout`` never fire; only the
client can tell. So, besides libpq's own settings, every wait of a connection on its server
(query, commit, rollback, the pool's pre-ping) ends after ``statement_timeout`` plus a second:
the connection is then closed, the pool drops it and the request answers 503.

Options in the URL's query (anything else is handed to libpq as it is):

- ``statement_timeout`` (seconds, default 5): the server cancels a longer statement; the
  client gives up one second later if the server does not say so.
- ``pool_timeout`` (seconds, default 5): the longest wait for a free pooled connection.
- libpq's ``connect_timeout`` (default 3; libpq counts at least 2), ``keepalives`` (1),
  ``keepalives_idle`` (30), ``keepalives_interval`` (10), ``keepalives_count`` (3) and
  ``tcp_user_timeout`` (10000 ms) get these defaults when the URL does not set them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text

from pubkit.errors import ConfigurationError

LIBPQ_DEFAULTS = {
    "connect_timeout": "3",
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "tcp_user_timeout": "10000",
}
STATEMENT_TIMEOUT = 5.0
POOL_TIMEOUT = 5.0
# How much longer than the server's statement_timeout the client waits for any answer.
CLIENT_MARGIN = 1.0


def _seconds(query: dict[str, str], name: str, default: float) -> float:
    raw = query.pop(name, None)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ConfigurationError(
            f"catalog URL option {name}={raw!r} must be a positive number of seconds"
        )
    return value


def _connection_class(bound: float) -> type[Any]:
    import psycopg

    class BoundedConnection(psycopg.Connection[Any]):
        """A psycopg connection whose waits on the server end after ``pubkit_bound`` s."""

        pubkit_bound: float | None = bound

        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            limit = timeout if timeout is not None else self.pubkit_bound
            try:
                return super().wait(gen, interval, limit)
            except psycopg.errors._WaitTimeout:
                # The protocol state is unknown: the connection cannot be used again.
                self.pgconn.finish()
                raise psycopg.OperationalError(
                    f"the database did not answer within {limit:g} s"
                ) from None

    return BoundedConnection


def postgres_engine(url: str) -> Engine:
    """The engine of ``postgresql://…`` with the bounds of the module docstring."""
    parsed = make_url("postgresql+psycopg:" + url.split(":", 1)[1])
    query = {key: str(value) for key, value in parsed.query.items()}
    statement = _seconds(query, "statement_timeout", STATEMENT_TIMEOUT)
    pool_timeout = _seconds(query, "pool_timeout", POOL_TIMEOUT)
    for name, value in LIBPQ_DEFAULTS.items():
        query.setdefault(name, value)
    options = query.get("options", "")
    if "statement_timeout" not in options:
        options = f"{options} -c statement_timeout={int(statement * 1000)}".strip()
    query["options"] = options
    connection_class = _connection_class(statement + CLIENT_MARGIN)
    engine = create_engine(
        parsed.set(query=query),
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        pool_timeout=pool_timeout,
    )

    @event.listens_for(engine, "do_connect")
    def connect(_dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        return connection_class.connect(*cargs, **cparams)

    return engine


@contextlib.contextmanager
def unbounded(conn: Connection) -> Iterator[None]:
    """No statement timeout and no client bound inside this transaction (schema upgrades, and
    waiting for another replica's)."""
    dbapi: Any = conn.connection.dbapi_connection
    saved = getattr(dbapi, "pubkit_bound", None)
    conn.execute(text("SET LOCAL statement_timeout = 0"))
    if hasattr(dbapi, "pubkit_bound"):
        dbapi.pubkit_bound = None
    try:
        yield
    finally:
        if hasattr(dbapi, "pubkit_bound"):
            dbapi.pubkit_bound = saved
