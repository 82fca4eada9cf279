"""SHA-256-crypt and SHA-512-crypt (``$5$``, ``$6$``), the glibc ``crypt(3)`` schemes that
Apache's ``htpasswd -2``/``-5`` and passlib (pypiserver's, pypicloud's) write, verified in pure
Python: only to check a migrated hash at its user's first sign-in (see
:mod:`pubkit.server.auth.passwords`), never to store a new one. Python's ``crypt`` module is
gone in 3.13, and this is the algorithm of Ulrich Drepper's specification, step by step."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable

ROUNDS_DEFAULT = 5000
ROUNDS_MIN = 1000
# passlib's sha512_crypt default is 656000; far more would make one sign-in take minutes.
ROUNDS_MAX = 1_000_000
SHA_CRYPT_HASH = re.compile(
    r"\$(?P<variant>[56])\$(?:rounds=(?P<rounds>[0-9]{1,9})\$)?(?P<salt>[^$:\n]{0,16})"
    r"\$(?P<digest>[./0-9A-Za-z]+)"
)
_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# The order in which each variant's final digest bytes are encoded, three at a time.
_ORDER = {
    "5": ((0, 10, 20), (21, 1, 11), (12, 22, 2), (3, 13, 23), (24, 4, 14), (15, 25, 5),
          (6, 16, 26), (27, 7, 17), (18, 28, 8), (9, 19, 29)),
    "6": ((0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26),
          (6, 27, 48), (28, 49, 7), (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32),
          (12, 33, 54), (34, 55, 13), (56, 14, 35), (15, 36, 57), (37, 58, 16), (59, 17, 38),
          (18, 39, 60), (40, 61, 19), (62, 20, 41)),
}  # fmt: skip
_DIGEST_CHARS = {"5": 43, "6": 86}


def parse(text: str) -> tuple[str, int, bytes, str] | None:
    """``(variant, rounds, salt, digest)`` of a SHA-crypt hash; None if it is not one pubkit
    can verify (malformed, or rounds beyond :data:`ROUNDS_MAX`)."""
    match = SHA_CRYPT_HASH.fullmatch(text)
    if match is None or len(match["digest"]) != _DIGEST_CHARS[match["variant"]]:
        return None
    rounds = int(match["rounds"]) if match["rounds"] else ROUNDS_DEFAULT
    if rounds > ROUNDS_MAX:
        return None
    return match["variant"], max(rounds, ROUNDS_MIN), match["salt"].encode(), match["digest"]


def _encode(variant: str, digest: bytes) -> str:
    out = []

    def chars(value: int, count: int) -> None:
        for _ in range(count):
            out.append(_ALPHABET[value & 0x3F])
            value >>= 6

    for first, second, third in _ORDER[variant]:
        chars((digest[first] << 16) | (digest[second] << 8) | digest[third], 4)
    if variant == "5":
        chars((digest[31] << 8) | digest[30], 3)
    else:
        chars(digest[63], 2)
    return "".join(out)


def _repeat(block: bytes, length: int) -> bytes:
    return (block * (length // len(block) + 1))[:length]


def digest(password: bytes, variant: str, salt: bytes, rounds: int) -> str:
    """The encoded digest of ``password`` (the part after the last ``$``)."""
    new: Callable[..., hashlib._Hash] = hashlib.sha256 if variant == "5" else hashlib.sha512
    size = new().digest_size
    alternate = new(password + salt + password).digest()
    a = new(password + salt)
    a.update(_repeat(alternate, len(password)))
    length = len(password)
    while length:
        a.update(alternate if length & 1 else password)
        length >>= 1
    current = a.digest()
    p_bytes = _repeat(new(password * len(password)).digest(), len(password))
    s_bytes = _repeat(new(salt * (16 + current[0])).digest(), len(salt))
    for round_ in range(rounds):
        step = new(p_bytes if round_ & 1 else current)
        if round_ % 3:
            step.update(s_bytes)
        if round_ % 7:
            step.update(p_bytes)
        step.update(current if round_ & 1 else p_bytes)
        current = step.digest()
    assert len(current) == size
    return _encode(variant, current)


def verify(password: str, stored: str) -> bool:
    """Whether ``password`` matches the SHA-crypt hash ``stored``; ValueError if it is none."""
    parsed = parse(stored)
    if parsed is None:
        raise ValueError("not a SHA-crypt hash pubkit verifies")
    variant, rounds, salt, expected = parsed
    actual = digest(password.encode("utf-8"), variant, salt, rounds)
    return hmac.compare_digest(actual, expected)
