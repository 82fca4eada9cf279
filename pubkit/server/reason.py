"""Refusals carry their message in the HTTP status line's reason phrase as well as in the
body, as PyPI does: twine prints only the status line unless ``--verbose``.

ASGI has no field for the reason phrase and uvicorn derives it from the status, so the
request middleware (:class:`pubkit.server.observe.Observe`) holds back the start of an error
answer until its first body chunk, takes the phrase from it, and sends the start with the
phrase under :data:`pubkit.server.protocols.REASON`, which pubkit's protocol writes.
The phrase is the first line of the error body (plain text, or the ``error`` of a JSON
body), made safe for a status line.
"""

from __future__ import annotations

import json

MAX_REASON = 200
# Characters an error message uses that latin-1 (the status line's charset) lacks.
_PLAIN = str.maketrans({"\u2026": "...", "\u2018": "'", "\u2019": "'", "\u201c": '"',
                        "\u201d": '"', "\u2013": "-", "\u2014": "-", "\u2192": "->",
                        "\u2194": "<->", "\u2265": ">=", "\u2264": "<="})  # fmt: skip


def reason_phrase(message: str) -> bytes | None:
    """``message``'s first line as a reason phrase: printable latin-1 only (no CR, LF or
    other control characters), blanks folded, at most :data:`MAX_REASON` bytes; None when
    nothing is left."""
    lines = message.strip().splitlines()
    if not lines:
        return None
    text = lines[0].translate(_PLAIN).replace("\t", " ")
    text = "".join(ch if " " <= ch <= "~" or "\xa0" <= ch <= "\xff" else "?" for ch in text)
    text = " ".join(text.split())
    if len(text) > MAX_REASON:
        text = text[: MAX_REASON - 3].rstrip() + "..."
    return text.encode("latin-1") or None


def reason_of(headers: list[tuple[bytes, bytes]], body: bytes) -> bytes | None:
    """The reason phrase for an error answer with ``headers`` and (the start of) ``body``."""
    content_type = next((value for name, value in headers if name.lower() == b"content-type"),
                        b"").split(b";")[0].strip().lower()  # fmt: skip
    text = body.decode("utf-8", errors="replace")
    if content_type == b"text/plain":
        return reason_phrase(text)
    if content_type == b"application/json":
        try:
            document = json.loads(text)
        except ValueError:
            return None
        error = document.get("error") if isinstance(document, dict) else None
        return reason_phrase(error) if isinstance(error, str) else None
    return None
