"""Password hashing with scrypt (stdlib, memory-hard) in a self-describing format.

Format: ``scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>``; the parameters travel with the hash
so they can be raised later without invalidating stored passwords.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from pubkit.errors import CatalogError

# 2**15 * 8 * 128 bytes = 32 MiB and roughly 50-100 ms per verification: slow for an attacker
# holding the database, and the server verifies each password once per cache window.
LOG2_N = 15
R = 8
P = 1
SALT_BYTES = 16
KEY_BYTES = 32
MIN_PASSWORD_LENGTH = 8


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
