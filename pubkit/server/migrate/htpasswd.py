"""Users from an Apache htpasswd file (pypiserver's ``--passwords``), as pubkit can hold them.

pypiserver checks passwords with passlib's ``HtpasswdFile``, so its file may hold any scheme
Apache's ``htpasswd`` writes. A password cannot be re-hashed without knowing it, so each line
is judged on its hash alone:

- bcrypt (``$2y$``, ``$2b$``, ``$2a$``; ``htpasswd -B``) and SHA-256/512-crypt (``$5$``,
  ``$6$``; ``htpasswd -2``/``-5``, passlib) are kept as legacy hashes (``bcrypt$…``,
  ``sha-crypt$…``, see :mod:`pubkit.server.auth.passwords`), verified at the user's first
  sign-in and replaced then by a scrypt hash of the same password;
- apr1 MD5 (``$apr1$``, htpasswd's default), ``{SHA}`` (unsalted SHA-1, ``htpasswd -s``),
  MD5-crypt (``$1$``), DES crypt and plaintext are fast to guess: they are refused, one line
  each, and those users must be created again (``pubkit user add``).

Pure: text in, users and refusals out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pubkit.server.auth import shacrypt
from pubkit.server.auth.passwords import BCRYPT_HASH, legacy_hash

_DES_CRYPT = re.compile(r"[./A-Za-z0-9]{13}")


@dataclass(frozen=True)
class HtpasswdUser:
    line: int
    name: str
    stored_hash: str  # the form pubkit stores (bcrypt$… or sha-crypt$…)


@dataclass(frozen=True)
class HtpasswdRefusal:
    line: int
    name: str
    reason: str

    def describe(self) -> str:
        return f"line {self.line}: user {self.name!r} not migrated: {self.reason}"


def _again(name: str) -> str:
    return f"create the user again with `pubkit user add {name}`"


def judge_hash(name: str, value: str) -> str | None:
    """Why ``value`` cannot be kept as ``name``'s hash; None when it can (bcrypt)."""
    if BCRYPT_HASH.fullmatch(value) or shacrypt.parse(value) is not None:
        return None
    if value.startswith("$2"):
        return f"the bcrypt hash is malformed; {_again(name)}"
    if value.startswith("$apr1$"):
        return f"apr1 (MD5) hashes are too fast to guess to keep; {_again(name)}"
    if value.startswith("{SHA}"):
        return f"{{SHA}} hashes are unsalted SHA-1, too weak to keep; {_again(name)}"
    if value.startswith("$1$"):
        return f"MD5-crypt hashes are too weak to keep; {_again(name)}"
    if value.startswith(("$5$", "$6$")):
        return (f"the SHA-crypt hash is malformed or has more than {shacrypt.ROUNDS_MAX} rounds;"
                f" {_again(name)}")  # fmt: skip
    if _DES_CRYPT.fullmatch(value):
        return f"DES crypt hashes (or plaintext) are too weak to keep; {_again(name)}"
    return f"not a hash pubkit knows (a plaintext password?); {_again(name)}"


def parse_htpasswd(text: str) -> tuple[list[HtpasswdUser], list[HtpasswdRefusal]]:
    """The users an htpasswd file's text gives, and the lines refused (never quoting a hash)."""
    from pubkit.errors import UsageError
    from pubkit.server.admin import check_name

    users: dict[str, HtpasswdUser] = {}
    refused: list[HtpasswdRefusal] = []
    seen: dict[str, int] = {}
    repeated: set[str] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition(":")
        if not sep or not name:
            refused.append(HtpasswdRefusal(number, name[:40] if sep else "?",
                                           "the line is not USER:HASH"))  # fmt: skip
            continue
        try:
            check_name("user", name)
            if name == "__token__":
                raise UsageError("__token__ is reserved for API tokens")
        except UsageError as error:
            refused.append(HtpasswdRefusal(number, name[:40], error.message))
            continue
        if name in seen:
            # Which line a server would use differs between implementations: neither is kept.
            refused.append(HtpasswdRefusal(
                number, name, f"appears again (first on line {seen[name]}); keep one line"
                " and run the migration again"
            ))  # fmt: skip
            repeated.add(name)
            continue
        seen[name] = number
        reason = judge_hash(name, value)
        if reason is not None:
            refused.append(HtpasswdRefusal(number, name, reason))
            continue
        users[name] = HtpasswdUser(number, name, legacy_hash(value))
    for name in repeated:
        first = users.pop(name, None)
        if first is not None:
            refused.append(HtpasswdRefusal(first.line, name, "appears more than once"))
    return list(users.values()), sorted(refused, key=lambda refusal: refusal.line)
