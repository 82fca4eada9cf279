"""Failed sign-ins paced by client address, behind a trusted proxy too: the address that
counts is the one X-Forwarded-For names, only when the proxy is trusted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from pubkit.testing import LiveServer
from tests.e2e.support import PASSWORDS

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("pacing") / "data",
                      env={"PUBKIT_TRUSTED_PROXIES": "127.0.0.1",
                           "PUBKIT_AUTH_FAILURES_PER_MINUTE": "3"})  # fmt: skip
    live.add_user("alice", PASSWORDS["alice"])
    live.start()
    try:
        yield live
    finally:
        live.stop()


def sign_in(server: LiveServer, user: str, password: str, client: str) -> requests.Response:
    return requests.post(server.url, auth=(user, password), timeout=30,
                         headers={"X-Forwarded-For": client})  # fmt: skip


def test_failures_count_per_forwarded_client_address(server: LiveServer) -> None:
    for attempt in range(3):
        assert sign_in(server, f"guess{attempt}", "wrong", "10.1.1.1").status_code == 401
    blocked = sign_in(server, "guess9", "wrong", "10.1.1.1")
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    # Another client behind the same proxy is not blocked (its credentials are just wrong).
    assert sign_in(server, "someone", "wrong", "10.2.2.2").status_code == 401
    # alice's own sign-in from elsewhere works (her account has no failures): past the
    # credentials, the empty body is what gets refused.
    assert sign_in(server, "alice", PASSWORDS["alice"], "10.3.3.3").status_code == 415
