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


def test_finding_6_token_not_locked_out_by_others(server: LiveServer) -> None:
    """Wrong secrets for a token's id, from another address, never lock the token out; nor do
    wrong passwords for an account lock its user out at their own address."""
    import re
    import subprocess
    import sys

    created = subprocess.run(
        [sys.executable, "-m", "pubkit", "token", "create", "--user", "alice",
         "--data-dir", str(server.data_dir)],
        capture_output=True, text=True, check=True, env=server._env(),
    )  # fmt: skip
    found = re.search(r"pubkit_([0-9a-f]{16})_\S+", created.stdout)
    assert found is not None, created.stdout
    token, token_id = found.group(0), found.group(1)
    for attempt in range(10):
        wrong = f"pubkit_{token_id}_{'0' * 40}{attempt:03d}"
        answer = sign_in(server, "__token__", wrong, "10.6.6.6")
        assert answer.status_code in (401, 429)
    assert sign_in(server, "__token__", "x", "10.6.6.6").status_code == 429  # that address
    # The token's holder, elsewhere: past the credentials, the empty body is refused.
    assert sign_in(server, "__token__", token, "10.7.7.7").status_code == 415
    for _ in range(5):
        sign_in(server, "alice", "not-her-password", "10.8.8.8")
    assert sign_in(server, "alice", "another-guess", "10.8.8.8").status_code == 429
    assert sign_in(server, "alice", PASSWORDS["alice"], "10.9.9.9").status_code == 415
