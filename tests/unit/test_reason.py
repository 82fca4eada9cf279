"""The reason phrase a refusal carries: the message's first line, safe for a status line."""

from __future__ import annotations

import json

from pubkit.server.reason import MAX_REASON, reason_of, reason_phrase


def test_a_message_becomes_its_reason_phrase() -> None:
    assert reason_phrase("user 'bob' may not upload to 'x'; ask one of its owners\n") == (
        b"user 'bob' may not upload to 'x'; ask one of its owners")


def test_no_line_break_or_control_character_reaches_the_status_line() -> None:
    phrase = reason_phrase("bad\x00name in\tfile \x7f\x9bx.whl\r\nSet-Cookie: a=b")
    assert phrase == b"bad?name in file ??x.whl"
    assert reason_phrase("first\rSet-Cookie: a=b") == b"first"
    assert reason_phrase("\r\n\n") is None and reason_phrase("") is None


def test_the_phrase_is_latin_1() -> None:
    assert reason_phrase("caf\u00e9 \u2026 \u2192 \u6f22\u5b57 \U0001f600") == (
        "caf\u00e9 ... -> ?? ?".encode("latin-1"))


def test_the_phrase_is_bounded() -> None:
    phrase = reason_phrase("x" * 5000)
    assert phrase is not None and len(phrase) == MAX_REASON and phrase.endswith(b"...")


def test_the_reason_comes_from_a_text_or_json_body_only() -> None:
    text = [(b"content-type", b"text/plain; charset=utf-8")]
    assert reason_of(text, b"no such project\n") == b"no such project"
    api = [(b"Content-Type", b"application/json")]
    assert reason_of(api, json.dumps({"error": "no user 'x'"}).encode()) == b"no user 'x'"
    assert reason_of(api, b"[1, 2]") is None and reason_of(api, b"{not json") is None
    assert reason_of([(b"content-type", b"text/html")], b"<h1>x</h1>") is None
    assert reason_of([], b"anything") is None
