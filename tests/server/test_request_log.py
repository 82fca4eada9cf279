"""The access log says when, which request (an id the answer echoes) and who; failed sign-ins
reach the audit log, at most one row per address and account a minute, with a count."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta, timezone

import pytest

from pubkit.server import admin
from pubkit.server.auth.failure_audit import FailedSignInAudit
from tests.server.conftest import Index, basic


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "pubkit.access"]


def test_a_line_has_the_time_the_request_id_and_the_user(
    index: Index, caplog: pytest.LogCaptureFixture
) -> None:
    record, token = admin.create_token(index.catalog, "bob", permission="read")
    with caplog.at_level(logging.INFO, logger="pubkit.access"):
        anonymous = index.client.get("/simple/")
        signed_in = index.client.get("/", headers={**basic("alice"), "X-Request-ID": "ci-42.a"})
        # Public reads look at no credentials; an upload does (a read token may not upload:
        # refused at its headers, but the line still names who it was).
        by_token = index.client.post("/", headers=basic("__token__", token))
        wrong = index.client.post("/", headers=basic("alice", "not-her-password"))
    first, second, third, fourth = access_lines(caplog)
    moment = datetime.fromisoformat(str(first["time"]))
    assert abs(moment - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert (first["user"], first["token"]) == (None, None)
    assert re.fullmatch(r"[0-9a-f]{32}", str(first["request_id"]))
    assert anonymous.headers["x-request-id"] == first["request_id"]
    assert signed_in.headers["x-request-id"] == second["request_id"] == "ci-42.a"
    assert third["user"] == "bob" and third["token"] == record.id
    assert token not in json.dumps(third)
    assert by_token.status_code == 403 and wrong.status_code == 401
    assert (fourth["user"], fourth["status"]) == (None, 401)


@pytest.mark.parametrize("incoming", ["", "a b", "x" * 129, "-leading-dash", "caf\u00e9", "a\tb"])
def test_an_insane_request_id_is_replaced(index: Index, incoming: str) -> None:
    answer = index.client.get("/health", headers={"X-Request-ID": incoming.encode("utf-8")})
    assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"]), answer.headers


def test_an_error_answer_carries_the_request_id_too(index: Index) -> None:
    answer = index.client.get("/files/nothing/nothing-1.0.tar.gz", headers={"X-Request-ID": "r1"})
    assert answer.status_code == 404 and answer.headers["x-request-id"] == "r1"


def test_failed_sign_ins_are_audited_once_a_minute_per_address_and_account(
    index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(index.services, "failure_audit", FailedSignInAudit(clock=lambda: now[0]))
    for _ in range(5):
        assert index.client.post("/", headers=basic("alice", "wrong-1")).status_code == 401
    assert index.client.post("/", headers=basic("bob", "wrong-2")).status_code == 401
    assert index.client.post("/", headers=basic("__token__", "pubkit_0123456789abcdef_" + "x" * 43)
                             ).status_code == 401  # fmt: skip
    now[0] += 61
    assert index.client.post("/", headers=basic("alice", "wrong-3")).status_code == 401
    rows = [(e.action, e.target, e.actor, e.address, e.detail)
            for e in index.catalog.audit_entries() if e.action == "failed sign-in"]  # fmt: skip
    address = "unknown"  # the test client's "testclient" is no IP address
    assert rows == [  # newest first
        ("failed sign-in", "alice", None, address, {"failures": 5}),
        ("failed sign-in", "token 0123456789abcdef", None, address, {"failures": 1}),
        ("failed sign-in", "bob", None, address, {"failures": 1}),
        ("failed sign-in", "alice", None, address, {"failures": 1}),
    ]
    assert not any("wrong-" in json.dumps(row) for row in rows)


def test_the_failure_audit_holds_back_and_counts() -> None:
    now = [0.0]
    audit = FailedSignInAudit(window=60, clock=lambda: now[0])
    assert audit.failed(("1.2.3.4", "alice")) == 1
    assert [audit.failed(("1.2.3.4", "alice")) for _ in range(3)] == [None, None, None]
    assert audit.failed(("5.6.7.8", "alice")) == 1
    now[0] = 59.9
    assert audit.failed(("1.2.3.4", "alice")) is None
    now[0] = 60.0
    assert audit.failed(("1.2.3.4", "alice")) == 5
