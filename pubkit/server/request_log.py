"""What the access log says about a request besides the request itself: its id (from a sane
``X-Request-ID`` of the client, or a new one, echoed in the answer) and who it acted as.

The access-log middleware opens a :class:`RequestFacts` for each request in a context
variable; whoever authenticates the request notes the principal in it (context variables
follow the request into worker threads).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from pubkit.server.auth.tokens import Principal

REQUEST_ID_HEADER = b"x-request-id"
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}")


@dataclass(slots=True)
class RequestFacts:
    request_id: str
    user: str | None = None
    token: str | None = None


current: ContextVar[RequestFacts | None] = ContextVar("pubkit_request", default=None)


def _fresh_ids() -> Iterator[str]:
    """New request ids: 32 hex digits, 64 random bits drawn once per process (again in a
    forked child) and a 64-bit count, unique across workers and restarts. Made in C (a
    ``map`` of ``str.format`` over a count): no random draw and no Python call per id, as
    a uuid4 per request had."""
    return map(f"{os.urandom(8).hex()}{{:016x}}".format, itertools.count(1))


_new_ids = _fresh_ids()


def _reseed() -> None:
    global _new_ids
    _new_ids = _fresh_ids()


os.register_at_fork(after_in_child=_reseed)


def request_id(incoming: str | None) -> str:
    """The client's id when it is sane (1 to 128 characters of letters, digits and
    ``._:@/+=-``, starting with a letter or digit), else a new one."""
    if incoming is not None and _SANE_ID.fullmatch(incoming):
        return incoming
    return next(_new_ids)


def note_principal(principal: Principal | None) -> None:
    """Record who the current request acts as (nothing for anonymous requests)."""
    facts = current.get()
    if facts is not None and principal is not None:
        facts.user = principal.name
        facts.token = principal.token.id if principal.token is not None else None
