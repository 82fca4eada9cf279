"""Unicode and whitespace normalization."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

NormalForm = Literal["NFC", "NFD", "NFKC", "NFKD"]

_BLANK_LINES = re.compile(r"\n\s*\n+")
_ANY_SPACE = re.compile(r"\s+")
# Kept by normalize_unicode although they are control characters.
_KEPT_CONTROLS = {"\n", "\t"}


def normalize_unicode(text: str, form: NormalForm = "NFKC") -> str:
    """``text`` in a unicode normal form, without control and zero-width characters.

    NFKC (the default) also folds compatibility characters: "ﬁ" -> "fi", "①" -> "1",
    full-width letters and digits -> ASCII. Newlines and tabs survive; "\\r\\n" and "\\r"
    become "\\n".
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize(form, text)
    # Cc: control characters; Cf: format characters such as the zero-width space and BOM.
    return "".join(
        ch for ch in text if ch in _KEPT_CONTROLS or unicodedata.category(ch) not in ("Cc", "Cf")
    )


def normalize_whitespace(text: str, *, keep_paragraphs: bool = False) -> str:
    """Runs of whitespace collapsed to one space, and the ends stripped.

    With ``keep_paragraphs``, blank lines separating paragraphs are kept as one "\\n\\n"
    and single line breaks become spaces.
    """
    if not keep_paragraphs:
        return _ANY_SPACE.sub(" ", text).strip()
    paragraphs = _BLANK_LINES.split(text.strip())
    return "\n\n".join(_ANY_SPACE.sub(" ", p).strip() for p in paragraphs)


def strip_accents(text: str) -> str:
    """``text`` without diacritics: "Crème brûlée" -> "Creme brulee"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def clean(text: str, *, keep_paragraphs: bool = False) -> str:
    """The usual pipeline for user-entered text: unicode, then whitespace normalization."""
    return normalize_whitespace(normalize_unicode(text), keep_paragraphs=keep_paragraphs)
