"""URL slugs: "Crème Brûlée — 2 for £5!" -> "creme-brulee-2-for-5"."""

from __future__ import annotations

import re

from acme_core import AcmeError

from acme_text.normalize import normalize_unicode, strip_accents

# Letters that NFKD does not decompose into an ASCII letter plus accents.
_TRANSLITERATIONS = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L"}
)
_NOT_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")


class SlugError(AcmeError, ValueError):
    """The text has nothing a slug can be made of."""


def slugify(text: str, *, separator: str = "-", max_length: int | None = None) -> str:
    """A lowercase ASCII slug of ``text``, words joined by ``separator``.

    With ``max_length``, the slug is cut at a word boundary when there is one.
    """
    ascii_text = strip_accents(normalize_unicode(text).translate(_TRANSLITERATIONS))
    ascii_text = ascii_text.encode("ascii", "ignore").decode("ascii")
    slug = _NOT_ALPHANUMERIC.sub(separator, ascii_text.lower()).strip(separator)
    if max_length is not None and len(slug) > max_length:
        # One character more: if it is a separator, the cut falls between two words.
        head = slug[: max_length + 1]
        slug = head.rsplit(separator, 1)[0] if separator in head else slug[:max_length]
    if not slug:
        raise SlugError(f"cannot make a slug of {text!r}")
    return slug
