from __future__ import annotations

import base64

import pytest

from pubkit.errors import AuthenticationError
from pubkit.server.auth.authenticator import Credentials, parse_basic_auth
from pubkit.server.auth.passwords import hash_password, verify_password


def test_password_hash_round_trip() -> None:
    stored = hash_password("s3cret-password")
    assert stored.startswith("scrypt$15$8$1$")
    assert "s3cret-password" not in stored
    assert verify_password("s3cret-password", stored)
    assert not verify_password("s3cret-passwore", stored)
    assert hash_password("s3cret-password") != stored  # salted


def _basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


def test_parse_basic_auth() -> None:
    assert parse_basic_auth(None) is None
    assert parse_basic_auth(_basic(b"alice:pa:ss")) == Credentials("alice", "pa:ss")
    assert parse_basic_auth(_basic("jos\u00e9:p".encode())) == Credentials("jos\u00e9", "p")
    # A Bearer token is the same as Basic with the user __token__.
    assert parse_basic_auth("Bearer pubkit_x") == Credentials("__token__", "pubkit_x")


@pytest.mark.parametrize(
    "header",
    ["Bearer ", "Digest abc", "Basic !!!notbase64", _basic(b"no-colon"), _basic(b":nouser"),
     _basic(b"\xff\xfe:x")],
)
def test_parse_basic_auth_rejects(header: str) -> None:
    with pytest.raises(AuthenticationError):
        parse_basic_auth(header)
