"""The read path's credential cache (keyed by the Authorization header): repeat reads skip the
decoding and the slow hash, yet a revocation, an expiry or a password change is seen on the
next request; credentials verified a moment ago are not slowed by other clients' failures."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pubkit.server import admin
from pubkit.server.app import create_app
from pubkit.settings import load_server_settings
from pubkit.testing import make_wheel
from tests.server.conftest import PASSWORD, Index, basic


@pytest.fixture
def closed(data_dir: Path, dist_dir: Path) -> Iterator[Index]:
    """An index that reads only signed in, with one project."""
    settings = load_server_settings({"data_dir": data_dir, "read": "authenticated"}, environ={})
    app = create_app(settings)
    with TestClient(app) as client:
        idx = Index(client, app.state.services, data_dir)
        idx.add_user("alice")
        assert idx.upload(make_wheel(dist_dir, "cached", "1.0")).status_code == 200
        yield idx


def read(index: Index, headers: dict[str, str]) -> int:
    return int(index.client.get("/simple/cached/", headers=headers).status_code)


def test_a_revoked_token_stops_reading_at_once(closed: Index) -> None:
    token, text = admin.create_token(closed.catalog, "alice", permission="read")
    bearer = {"Authorization": f"Bearer {text}"}
    as_basic = {"Authorization": "Basic " + base64.b64encode(f"__token__:{text}".encode()).decode()}
    assert [read(closed, bearer), read(closed, bearer), read(closed, as_basic)] == [200] * 3
    admin.revoke_token(closed.catalog, token.id)
    assert [read(closed, bearer), read(closed, as_basic)] == [401, 401]


def test_an_expiring_token_stops_when_it_expires(
    closed: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, text = admin.create_token(closed.catalog, "alice", expires_in=timedelta(hours=1))
    bearer = {"Authorization": f"Bearer {text}"}
    assert read(closed, bearer) == 200  # verified and cached
    assert token.expires is not None
    later = token.expires + timedelta(seconds=1)

    def an_hour_later() -> datetime:
        return later

    monkeypatch.setattr("pubkit.server.auth.authenticator.utc_now", an_hour_later)
    assert read(closed, bearer) == 401


def test_a_password_change_is_seen_by_the_next_read(closed: Index) -> None:
    assert read(closed, basic("alice")) == 200
    admin.change_password(closed.catalog, "alice", "another-long-password")
    assert read(closed, basic("alice")) == 401
    assert read(closed, basic("alice", "another-long-password")) == 200


def test_verified_credentials_are_not_paced_by_others_failures(closed: Index) -> None:
    assert read(closed, basic("alice")) == 200
    # Every request here comes from one address: guesses fill its failure count.
    statuses = [read(closed, basic("alice", f"guess-{n}")) for n in range(12)]
    assert statuses[0] == 401 and statuses[-1] == 429
    assert read(closed, basic("alice")) == 200
    assert read(closed, basic("alice", PASSWORD + "!")) == 429
