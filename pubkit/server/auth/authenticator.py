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
from dataclasses import dataclass

from pubkit.errors import AuthenticationError
from pubkit.server.auth.passwords import DUMMY_HASH, verify_password
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


class Authenticator:
    def __init__(self, catalog: Catalog, cache_seconds: float, clock: object = time.monotonic):
        self.catalog = catalog
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._key = secrets.token_bytes(32)  # never leaves this process
        self._cache: OrderedDict[bytes, tuple[float, User]] = OrderedDict()
        self._lock = threading.Lock()

    def _now(self) -> float:
        return float(self._clock())  # type: ignore[operator]

    def _cache_key(self, credentials: Credentials, stored_hash: str) -> bytes:
        message = "\0".join((credentials.username, credentials.password, stored_hash))
        return hmac.new(self._key, message.encode("utf-8"), hashlib.sha256).digest()

    def authenticate(self, credentials: Credentials) -> User:
        """The user these credentials belong to; AuthenticationError if they are wrong."""
        user = self.catalog.user(credentials.username)
        stored = user.password_hash if user else DUMMY_HASH
        key = self._cache_key(credentials, stored)
        now = self._now()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] > now and user is not None:
                self._cache.move_to_end(key)
                return user
        if not verify_password(credentials.password, stored) or user is None:
            raise AuthenticationError(
                "invalid username or password; check the credentials your client sends"
            )
        with self._lock:
            self._cache[key] = (now + self.cache_seconds, user)
            while len(self._cache) > MAX_CACHED:
                self._cache.popitem(last=False)
        return user
