"""Authentication: HTTP Basic with a password or an API token (user ``__token__``), or a
Bearer token; a short in-memory cache of verified credentials.

pip and twine send credentials with every request; re-running scrypt each time would cost
tens of milliseconds per request. A successful verification is remembered under a keyed hash
of the credentials until they go unused for a short window, and re-checked against the
catalog whenever its serial moves, so a password change, a removed user or a revoked token
takes effect at once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import os
import secrets
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import anyio

from pubkit.errors import AuthenticationError, PubkitError, ServerBusyError
from pubkit.server.auth.passwords import (
    dummy_hash,
    hash_password,
    needs_upgrade,
    verify_password,
)
from pubkit.server.auth.tokens import TOKEN_USERNAME, Principal, matches, split_token
from pubkit.server.catalog import Catalog
from pubkit.server.catalog.records import User, audit_note
from pubkit.server.layout import utc_now

MAX_CACHED = 10_000
# Password hashes a worker computes at once (scrypt: 32 MiB and a core each), and how long a
# sign-in waits for its turn before it is answered 503 with Retry-After.
HASH_SLOTS = 2
HASH_WAIT = 2.0
# The hashing threads' niceness (Linux): under CPU contention the event loop, which serves
# reads and verified sessions, goes first; a burst of sign-ins waits for spare cycles.
HASH_NICE = 10


def _yield_cpu() -> None:
    """Lower this (hashing) thread's CPU priority, where threads have their own."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_NICE)

log = logging.getLogger("pubkit.server")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    # The Authorization header they came in: the verified cache is keyed by it, so that a
    # repeat visit is found without decoding the header.
    header: str | None = field(default=None, compare=False, repr=False)


def parse_basic_auth(header: str | None) -> Credentials | None:
    """Credentials from an ``Authorization: Basic …`` (or ``Bearer <token>``) header; None
    when there is no header."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return Credentials(TOKEN_USERNAME, value.strip(), header)
    if scheme.lower() != "basic":
        raise AuthenticationError(
            "unsupported Authorization scheme; send HTTP Basic credentials or a Bearer token"
        )
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationError(
            "malformed Basic credentials; send base64 of user:password"
        ) from None
    username, sep, password = decoded.partition(":")
    if not sep or not username:
        raise AuthenticationError("malformed Basic credentials; send base64 of user:password")
    return Credentials(username, password, header)


@dataclass(frozen=True)
class _Verified:
    expires: float
    serial: int  # the catalog serial when the user (and token) record was last read
    principal: Principal


class Authenticator:
    """Verifies Basic credentials; a verified password is remembered for ``cache_seconds``.

    While the catalog serial has not moved (users and roles changes move it), a cache hit
    costs no database query at all; after a change, the user's stored hash is compared again,
    so a new password or a removed user takes effect at once.
    """

    def __init__(
        self, catalog: Catalog, cache_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.catalog = catalog
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._key = secrets.token_bytes(32)  # never leaves this process
        self._cache: OrderedDict[bytes, _Verified] = OrderedDict()
        self._lock = threading.Lock()
        self._hash_slots = anyio.Semaphore(HASH_SLOTS)
        self._hash_threads = ThreadPoolExecutor(HASH_SLOTS, "pubkit-hash", _yield_cpu)
        self._token_hashes: dict[str, str] = {}  # token id -> the stored hash it verified

    def _mac(self, text: str) -> bytes:
        # BLAKE2b keyed is a MAC in one C call: a third of HMAC-SHA256's cost on this path,
        # which every authenticated read takes.
        return hashlib.blake2b(text.encode(), key=self._key, digest_size=32).digest()

    def _cache_key(self, credentials: Credentials) -> bytes:
        if credentials.header is not None:
            return self._mac(credentials.header)
        return self._mac(f"{credentials.username}\0{credentials.password}")

    def _remember(self, key: bytes, entry: _Verified) -> None:
        with self._lock:
            self._cache[key] = entry
            self._cache.move_to_end(key)
            while len(self._cache) > MAX_CACHED:
                self._cache.popitem(last=False)

    def cached(self, credentials: Credentials, serial: int | None = None) -> Principal | None:
        """Who these credentials were recently verified as; cheap, safe in the event loop.
        ``serial``: the catalog serial, when the caller has just read it."""
        return self._cached(self._cache_key(credentials), serial)

    def cached_header(self, authorization: str, serial: int | None = None) -> Principal | None:
        """:meth:`cached` for the Authorization header the credentials came in, undecoded:
        the read path's way, which pays one keyed hash and a lookup per request."""
        return self._cached(self._mac(authorization), serial)

    def _cached(self, key: bytes, serial: int | None) -> Principal | None:
        with self._lock:
            hit = self._cache.get(key)
        now = self._clock()
        if hit is None or hit.expires <= now:
            return None
        token = hit.principal.token
        # Revoked tokens never get here (a revocation moves the serial: see _reload).
        if token is not None and token.expires is not None and token.expires <= utc_now():
            return None
        if serial is None:
            serial = self.catalog.serial()
        # The window runs from the last use: verifying the same credentials against the same
        # stored hash again could only give the same answer (a changed hash moves the serial),
        # and a client in steady use would otherwise stall on the slow hash every window.
        # Renewed at half time, so that most hits write nothing.
        renewed = now + self.cache_seconds
        stale = hit.expires - now < self.cache_seconds / 2
        if hit.serial == serial:
            if stale:
                self._remember(key, _Verified(renewed, serial, hit.principal))
            return hit.principal
        current = self._reload(hit.principal)
        if current is None:
            return None
        self._remember(key, _Verified(renewed if stale else hit.expires, serial, current))
        return current

    def _reload(self, principal: Principal) -> Principal | None:
        """The principal as the catalog has it now; None if it no longer stands."""
        if principal.token is not None:
            found = self.catalog.token(principal.token.id)
            if found is None or found[0].state(utc_now()) != "active":
                return None
            if found[1] != self._token_hashes.get(principal.token.id):
                return None  # the id was given another secret (an import with --replace)
            return Principal(found[2], found[0]) if not found[2].disabled else None
        current = self.catalog.user(principal.user.name)
        if (current is None or current.password_hash != principal.user.password_hash
                or current.disabled):  # fmt: skip
            return None
        return Principal(current)

    def authenticate(self, credentials: Credentials) -> Principal:
        """Who these credentials belong to; AuthenticationError if they are wrong.

        Blocking (the slow hash runs here): call it from a worker thread.
        """
        principal = self.cached(credentials)
        if principal is not None:
            return principal
        if credentials.username == TOKEN_USERNAME:
            return self._authenticate_token(credentials)
        # Callers bound how many of these run at once (authenticate_async: HASH_SLOTS).
        serial = self.catalog.serial()
        user = self.catalog.user(credentials.username)
        stored = user.password_hash if user else dummy_hash()
        if not verify_password(credentials.password, stored) or user is None or user.disabled:
            # A disabled user's right password gets the answer of a wrong one.
            raise AuthenticationError(
                "invalid username or password; check the credentials your client sends"
            )
        if needs_upgrade(user.password_hash):
            user = self._upgrade(user, credentials.password)
            serial = self.catalog.serial()
        principal = Principal(user)
        self._remember(
            self._cache_key(credentials),
            _Verified(self._clock() + self.cache_seconds, serial, principal),
        )
        return principal

    def _upgrade(self, user: User, password: str) -> User:
        """Replace a migrated legacy hash (bcrypt, SHA-crypt) that ``password`` just
        verified with a scrypt hash of it; the user as the catalog has them afterwards."""
        note = audit_note("upgrade password hash", f"user {user.name}", user.name,
                          scheme=user.password_hash.partition("$")[0])  # fmt: skip
        try:
            self.catalog.upgrade_password(user.name, user.password_hash,
                                          hash_password(password), note)  # fmt: skip
        except PubkitError as error:  # the old hash still verifies: the next sign-in retries
            log.warning("could not upgrade the password hash of %s: %s", user.name,
                        error.message)  # fmt: skip
            return user
        return self.catalog.user(user.name) or user

    def _authenticate_token(self, credentials: Credentials) -> Principal:
        refused = AuthenticationError(
            "invalid token; check the token your client sends (user __token__)"
        )
        parts = split_token(credentials.password)
        if parts is None:
            raise refused
        token_id, secret = parts
        serial = self.catalog.serial()
        found = self.catalog.token(token_id)
        # Unknown ids cost the same hash as known ones: no telling which ids exist.
        stored = found[1] if found is not None else "0" * 64
        if not matches(token_id, secret, stored) or found is None or found[2].disabled:
            raise refused
        token, _hash, user = found
        state = token.state(utc_now())
        if state != "active":
            raise AuthenticationError(
                f"token {token_id} is {state}; create a new one with `pubkit token create`"
            )
        # Uses are recorded when a verification is not cached: about once per cache window.
        self.catalog.touch_token(token_id)
        with self._lock:
            self._token_hashes[token_id] = stored
        principal = Principal(user, token)
        self._remember(
            self._cache_key(credentials),
            _Verified(self._clock() + self.cache_seconds, serial, principal),
        )
        return principal

    async def authenticate_async(self, credentials: Credentials) -> Principal:
        """:meth:`authenticate` in a worker thread: even its cache lookup may read the catalog
        serial, which on PostgreSQL is a query. A password waits (in the event loop, holding no
        thread) for one of :data:`HASH_SLOTS`, at most :data:`HASH_WAIT` seconds (then
        ServerBusyError: 503)."""
        if credentials.username == TOKEN_USERNAME:
            return await anyio.to_thread.run_sync(self.authenticate, credentials)
        try:
            with anyio.fail_after(HASH_WAIT):
                await self._hash_slots.acquire()
        except TimeoutError:
            raise ServerBusyError(
                "the server is busy checking other sign-ins; retry in a second", 1
            ) from None
        try:
            # HASH_SLOTS threads of their own: even a cancelled wait cannot start a third.
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._hash_threads, self.authenticate, credentials)
        finally:
            self._hash_slots.release()
