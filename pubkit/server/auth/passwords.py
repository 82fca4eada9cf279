"""Password hashing with scrypt (stdlib, memory-hard) in a self-describing format.

Format: ``scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>``; the parameters travel with the hash
so they can be raised later without invalidating stored passwords.

A user migrated from an htpasswd file (``pubkit migrate``) may hold a *legacy* hash until
their first sign-in: ``bcrypt$<the htpasswd bcrypt hash>`` (``$2y$``, ``$2b$`` or ``$2a$``,
verified with the ``bcrypt`` package) or ``sha-crypt$<the SHA-256/512-crypt hash>`` (``$5$``,
``$6$``, verified by :mod:`pubkit.server.auth.shacrypt`). Once a password verified against
one, the authenticator replaces it with a scrypt hash of that password
(:func:`needs_upgrade`). Weaker htpasswd schemes (apr1 MD5, ``{SHA}``, crypt, plaintext) are
never stored.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets

from pubkit.errors import CatalogError
from pubkit.server.auth import shacrypt

# 2**15 * 8 * 128 bytes = 32 MiB and roughly 50-100 ms per verification: slow for an attacker
# holding the database, and the server verifies each password once per cache window.
LOG2_N = 15
R = 8
P = 1
SALT_BYTES = 16
KEY_BYTES = 32
MIN_PASSWORD_LENGTH = 8
BCRYPT_PREFIX = "bcrypt$"
# An htpasswd bcrypt hash: the variant, a two-digit cost, 22 characters of salt, 31 of hash.
BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
BCRYPT_MAX_BYTES = 72  # bcrypt reads no further; Apache's htpasswd cuts longer passwords here
SHA_CRYPT_PREFIX = "sha-crypt$"


def _derive(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=256 * n * r + 1024 * 1024,
        dklen=KEY_BYTES,
    )


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _derive(password, salt, LOG2_N, R, P)
    b64 = base64.b64encode
    return f"scrypt${LOG2_N}${R}${P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    if stored.startswith(BCRYPT_PREFIX):
        return _verify_bcrypt(password, stored[len(BCRYPT_PREFIX) :])
    if stored.startswith(SHA_CRYPT_PREFIX):
        try:
            return shacrypt.verify(password, stored[len(SHA_CRYPT_PREFIX) :])
        except ValueError:
            raise CatalogError(
                "a stored SHA-crypt password hash is unreadable; reset it with"
                " `pubkit user passwd`"
            ) from None
    try:
        scheme, log2_n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            raise ValueError(scheme)
        expected = base64.b64decode(digest)
        actual = _derive(password, base64.b64decode(salt), int(log2_n), int(r), int(p))
    except ValueError:
        raise CatalogError(
            "a stored password hash is unreadable; reset it with `pubkit user passwd`"
        ) from None
    return hmac.compare_digest(actual, expected)


def _verify_bcrypt(password: str, stored: str) -> bool:
    if not BCRYPT_HASH.fullmatch(stored):
        raise CatalogError(
            "a stored bcrypt password hash is unreadable; reset it with `pubkit user passwd`"
        )
    try:
        import bcrypt
    except ImportError:
        raise CatalogError(
            "a user migrated from htpasswd has a bcrypt hash, which needs the bcrypt package:"
            " pip install 'pubkit[server]'"
        ) from None
    secret = password.encode("utf-8")[:BCRYPT_MAX_BYTES]
    return bool(bcrypt.checkpw(secret, stored.encode("ascii")))


def legacy_hash(htpasswd_hash: str) -> str:
    """The stored form of an htpasswd bcrypt or SHA-crypt hash; ValueError for any other."""
    if BCRYPT_HASH.fullmatch(htpasswd_hash):
        return BCRYPT_PREFIX + htpasswd_hash
    if shacrypt.parse(htpasswd_hash) is not None:
        return SHA_CRYPT_PREFIX + htpasswd_hash
    raise ValueError("not a bcrypt or SHA-crypt hash")


def needs_upgrade(stored: str) -> bool:
    """Whether a hash that just verified should be replaced by a scrypt hash of the password."""
    return not stored.startswith("scrypt$")


def is_stored_hash(text: str) -> bool:
    """Whether ``text`` has the form of a hash pubkit stores (never a pasted password)."""
    if text.startswith(BCRYPT_PREFIX):
        return bool(BCRYPT_HASH.fullmatch(text[len(BCRYPT_PREFIX) :]))
    if text.startswith(SHA_CRYPT_PREFIX):
        return shacrypt.parse(text[len(SHA_CRYPT_PREFIX) :]) is not None
    return text.startswith("scrypt$") and text.count("$") == 5


@functools.cache
def dummy_hash() -> str:
    """A hash of a random password, verified against when the user does not exist, so that an
    unknown user costs the same time as a wrong password. Made on first use, not at import."""
    return hash_password(secrets.token_urlsafe(16))


def check_password_strength(password: str) -> None:
    from pubkit.errors import UsageError

    if len(password) < MIN_PASSWORD_LENGTH:
        raise UsageError(
            f"the password is too short; use at least {MIN_PASSWORD_LENGTH} characters"
        )
