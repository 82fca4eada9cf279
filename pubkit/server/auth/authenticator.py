"""HTTP Basic authentication with a short in-memory cache of verified passwords.

pip and twine send credentials with every request; re-running scrypt each time would cost
tens of milliseconds per request. A successful verification is remembered for a short window
under a keyed hash of (user, password, stored hash), so a password change or a removed user
takes effect as soon as the stored hash changes or the entry expires.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from pubkit.errors import AuthenticationError
from pubkit.server.auth.passwords import dummy_hash, verify_password
from pubkit.server.catalog import Catalog, User

MAX_CACHED = 10_000


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def parse_basic_auth(header: str | None) -> Credentials | None:
    """Credentials from an ``Authorization: Basic …`` header; None when there is no header."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise AuthenticationError("unsupported Authorization scheme; send HTTP Basic credentials")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationError(
            "malformed Basic credentials; send base64 of user:password"
        ) from None
    username, sep, password = decoded.partition(":")
    if not sep or not username:
        raise AuthenticationError("malformed Basic credentials; send base64 of user:password")
    return Credentials(username, password)


@dataclass(frozen=True)
class _Verified:
    expires: float
    serial: int  # the catalog serial when the user record was last read
    user: User


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
        self._verify_lock = threading.Lock()

    def _cache_key(self, credentials: Credentials) -> bytes:
        message = f"{credentials.username}\0{credentials.password}".encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def _remember(self, key: bytes, entry: _Verified) -> None:
        with self._lock:
            self._cache[key] = entry
            self._cache.move_to_end(key)
            while len(self._cache) > MAX_CACHED:
                self._cache.popitem(last=False)

    def cached(self, credentials: Credentials) -> User | None:
        """The user if these credentials were verified recently; cheap, safe in the event loop."""
        key = self._cache_key(credentials)
        with self._lock:
            hit = self._cache.get(key)
        if hit is None or hit.expires <= self._clock():
            return None
        serial = self.catalog.serial()
        if hit.serial == serial:
            return hit.user
        current = self.catalog.user(credentials.username)
        if current is None or current.password_hash != hit.user.password_hash:
            return None
        self._remember(key, _Verified(hit.expires, serial, current))
        return current

    def authenticate(self, credentials: Credentials) -> User:
        """The user these credentials belong to; AuthenticationError if they are wrong.

        Blocking (the slow hash runs here): call it from a worker thread.
        """
        user = self.cached(credentials)
        if user is not None:
            return user
        # One slow hash at a time: bounds memory (scrypt takes 32 MiB) and, as a side effect,
        # the pace of password guessing; concurrent requests with the same credentials then
        # find the first one's result in the cache.
        with self._verify_lock:
            user = self.cached(credentials)
            if user is not None:
                return user
            serial = self.catalog.serial()
            user = self.catalog.user(credentials.username)
            stored = user.password_hash if user else dummy_hash()
            if not verify_password(credentials.password, stored) or user is None:
                raise AuthenticationError(
                    "invalid username or password; check the credentials your client sends"
                )
            self._remember(
                self._cache_key(credentials),
                _Verified(self._clock() + self.cache_seconds, serial, user),
            )
            return user

    async def authenticate_async(self, credentials: Credentials) -> User:
        """:meth:`authenticate` without blocking the event loop on a cache miss."""
        user = self.cached(credentials)
        if user is not None:
            return user
        return await anyio.to_thread.run_sync(self.authenticate, credentials)
