"""API tokens and the principal a request acts as.

A token reads ``pubkit_<id>_<secret>``: the id (public, 16 hex digits) finds the row, the
secret (256 random bits) proves possession. Only a keyed hash of the secret is stored
(HMAC-SHA256 keyed by the id): a secret that long needs no slow hash against guessing, so a
verification costs microseconds, and a leaked catalog does not leak usable tokens.
Clients send a token as HTTP Basic with the user ``__token__`` (as PyPI, so pip, uv and
twine work unchanged) or as ``Authorization: Bearer``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from pubkit.core.accounts import Token
from pubkit.server.catalog.records import User

TOKEN_USERNAME = "__token__"  # noqa: S105 - the user name, not a secret
PERMISSIONS = ("read", "upload")
_TOKEN = re.compile(r"^pubkit_(?P<id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a user, or a user through one of their tokens (narrower)."""

    user: User
    token: Token | None = None

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def actor(self) -> str:
        """For logs and the audit log: the user, and the token when one was used."""
        return self.user.name if self.token is None else f"{self.user.name} (token {self.token.id})"

    def upload_refusal(self, project: str) -> str | None:
        """Why this token may not upload to ``project``; None when its scope allows it."""
        if self.token is None:
            return None
        if self.token.permission != "upload":
            return f"token {self.token.id} may only read; create an upload token"
        if self.token.projects is not None and project not in self.token.projects:
            allowed = ", ".join(self.token.projects)
            return f"token {self.token.id} is limited to {allowed}; it may not upload to {project}"
        return None


def new_token() -> tuple[str, str, str]:
    """``(id, secret, token)`` for a fresh token."""
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return token_id, secret, f"pubkit_{token_id}_{secret}"


def split_token(token: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed token; None for anything else."""
    match = _TOKEN.match(token.strip())
    return (match["id"], match["secret"]) if match else None


def secret_hash(token_id: str, secret: str) -> str:
    return hmac.new(token_id.encode(), secret.encode(), hashlib.sha256).hexdigest()


def matches(token_id: str, secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(secret_hash(token_id, secret), stored_hash)
