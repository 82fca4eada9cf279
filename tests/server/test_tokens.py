"""API tokens against the app in-process: Basic with __token__ or Bearer, scope enforced on
every upload, revocation and expiry effective at once, uses and changes on record."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest

from pubkit.core.accounts import parse_duration
from pubkit.errors import NotFoundError, UsageError
from pubkit.server import admin
from pubkit.server.auth.tokens import secret_hash, split_token
from pubkit.testing import make_wheel
from tests.server.conftest import Index


def as_basic(token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()}


def upload_with(index: Index, path: Path, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    from tests.server.conftest import upload_fields

    files = {"content": (path.name, path.read_bytes(), "application/octet-stream")}
    return index.client.post("/", data=upload_fields(path), files=files, headers=headers)


def test_a_token_is_stored_only_as_a_keyed_hash(index: Index) -> None:
    token, text = admin.create_token(index.catalog, "alice")
    parts = split_token(text)
    assert parts is not None and parts[0] == token.id
    _token, stored, user = index.catalog.token(token.id)  # type: ignore[misc]
    assert stored == secret_hash(*parts) and parts[1] not in stored and user.name == "alice"
    assert split_token("pubkit_zz_short") is None


def test_upload_with_a_token_as_basic_or_bearer(index: Index, dist_dir: Path) -> None:
    _token, text = admin.create_token(index.catalog, "alice")
    first = upload_with(index, make_wheel(dist_dir, "tok-demo", "1.0"), as_basic(text))
    assert first.status_code == 200, first.text
    second = upload_with(index, make_wheel(dist_dir, "tok-demo", "1.1"),
                         {"Authorization": f"Bearer {text}"})  # fmt: skip
    assert second.status_code == 200, second.text
    # The token acts as alice: the project she claimed with it is hers.
    assert index.catalog.role("tok-demo", index.catalog.user("alice")) == "owner"  # type: ignore[arg-type]
    entry = index.catalog.audit_entries(1)[0]
    assert (entry.action, entry.target) == ("upload", "tok_demo-1.1-py3-none-any.whl")
    assert entry.actor == f"alice (token {_token.id})" and entry.address


@pytest.mark.parametrize(
    ("options", "project", "status", "message"),
    [
        ({"permission": "read"}, "tok-scope-a", 403, "may only read"),
        ({"projects": ("tok-scope-b",)}, "tok-scope-a", 403, "limited to tok-scope-b"),
        ({"projects": ("Tok_Scope.A",)}, "tok-scope-a", 200, None),  # names normalize
    ],
)
def test_a_token_uploads_only_within_its_scope(
    index: Index, dist_dir: Path, options: dict[str, object], project: str, status: int,
    message: str | None,
) -> None:  # fmt: skip
    _token, text = admin.create_token(index.catalog, "alice", **options)  # type: ignore[arg-type]
    response = upload_with(index, make_wheel(dist_dir, project, "1.0"), as_basic(text))
    assert response.status_code == status, response.text
    if message:
        assert message in response.text


def test_revoked_and_expired_tokens_stop_at_once(index: Index, dist_dir: Path) -> None:
    _token, text = admin.create_token(index.catalog, "alice")
    wheel = make_wheel(dist_dir, "tok-revoked", "1.0")
    assert upload_with(index, wheel, as_basic(text)).status_code == 200  # now cached
    admin.revoke_token(index.catalog, text)  # by the token itself
    refused = upload_with(index, make_wheel(dist_dir, "tok-revoked", "1.1"), as_basic(text))
    assert refused.status_code == 401
    assert "invalid token" in refused.text or "revoked" in refused.text
    assert index.catalog.tokens("alice")[0].revoked is not None

    expired, expired_text = admin.create_token(index.catalog, "alice",
                                               expires_in=timedelta(hours=1))  # fmt: skip
    with index.catalog._write() as conn:  # the hour has passed
        from sqlalchemy import update

        from pubkit.server.catalog import schema
        from pubkit.server.layout import utc_now

        conn.execute(update(schema.tokens).where(schema.tokens.c.id == expired.id)
                     .values(expires=utc_now() - timedelta(seconds=1)))  # fmt: skip
        index.catalog._journal(conn, "", "test: expire token")
    response = upload_with(index, make_wheel(dist_dir, "tok-revoked", "1.2"),
                           as_basic(expired_text))  # fmt: skip
    assert response.status_code == 401 and f"token {expired.id} is expired" in response.text


def test_wrong_tokens_get_one_answer(index: Index, dist_dir: Path) -> None:
    _token, text = admin.create_token(index.catalog, "alice")
    wheel = make_wheel(dist_dir, "tok-wrong", "1.0")
    forged = text[:-4] + ("AAAA" if not text.endswith("AAAA") else "BBBB")
    unknown = "pubkit_0123456789abcdef_" + "A" * 43
    for bad in (forged, unknown, "not-a-token"):
        response = upload_with(index, wheel, as_basic(bad))
        assert response.status_code == 401
        assert "invalid token" in response.text


def test_last_use_is_recorded(index: Index, dist_dir: Path) -> None:
    _token, text = admin.create_token(index.catalog, "alice")
    assert index.catalog.tokens()[0].last_used is None
    upload_with(index, make_wheel(dist_dir, "tok-used", "1.0"), as_basic(text))
    assert index.catalog.tokens()[0].last_used is not None


def test_token_arguments_are_checked(index: Index) -> None:
    with pytest.raises(NotFoundError, match="no user 'carol'"):
        admin.create_token(index.catalog, "carol")
    with pytest.raises(UsageError, match="permission 'write' is unknown"):
        admin.create_token(index.catalog, "alice", permission="write")
    with pytest.raises(NotFoundError, match="no token"):
        admin.revoke_token(index.catalog, "0123456789abcdef")
    assert parse_duration("30d") == timedelta(days=30)
    for bad in ("0d", "30", "3y", ""):
        with pytest.raises(UsageError, match="--expires"):
            parse_duration(bad)


def test_failed_sign_ins_are_paced_per_address_and_account(index: Index, dist_dir: Path) -> None:
    from tests.server.conftest import basic

    limit = index.services.settings.auth_failures_per_minute
    wheel = make_wheel(dist_dir, "paced", "1.0")
    for _ in range(limit):
        wrong = index.client.post("/", headers=basic("alice", "not-her-password"))
        assert wrong.status_code == 401
    blocked = upload_with(index, wheel, basic("alice"))  # even the right password, for now
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) >= 1
    assert blocked.text.startswith("too many failed sign-ins")
    # An unknown user gets the answer a wrong password gets.
    unknown = index.client.post("/", headers=basic("mallory", "x"))
    assert unknown.status_code == 429  # this address is blocked too
