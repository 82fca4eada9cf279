"""A raw listing, as the suppliers' feeds send it, and the clean one the catalogue publishes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from acme_core import AcmeError
from acme_text import SlugError, clean, slugify, strip_html

SLUG_MAX_LENGTH = 60


class InvalidListingError(AcmeError, ValueError):
    """A listing that cannot be published: not JSON, or without an id or a usable title."""


@dataclass(frozen=True)
class Listing:
    """A listing as the catalogue publishes it: plain, normalized text and a URL slug."""

    id: str
    title: str
    slug: str
    description: str

    def to_payload(self) -> dict[str, str]:
        return {
            "id": self.id,
            "title": self.title,
            "slug": self.slug,
            "description": self.description,
        }


def parse_listing(line: str) -> Mapping[str, Any]:
    """The JSON object on one line of a feed."""
    try:
        raw = json.loads(line)
    except ValueError as error:
        raise InvalidListingError(f"not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise InvalidListingError(f"not a JSON object but {type(raw).__name__}")
    return raw


def clean_listing(raw: Mapping[str, Any]) -> Listing:
    """The clean listing of a raw one: HTML stripped, unicode and whitespace normalized.

    The description keeps its paragraphs; the slug is made from the clean title.
    """
    raw_id = raw.get("id")
    # bool is an int: a feed that sends "id": true is broken, not listing number 1.
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or not str(raw_id).strip():
        raise InvalidListingError(
            f"the id must be a non-empty string or an integer, not {raw_id!r}"
        )
    listing_id = str(raw_id).strip()
    title = raw.get("title")
    if not isinstance(title, str):
        raise InvalidListingError(f"listing {listing_id}: the title must be a string")
    description = raw.get("description") or ""
    if not isinstance(description, str):
        raise InvalidListingError(f"listing {listing_id}: the description must be a string")

    clean_title = clean(strip_html(title))
    try:
        slug = slugify(clean_title, max_length=SLUG_MAX_LENGTH)
    except SlugError:
        raise InvalidListingError(
            f"listing {listing_id}: the title {title!r} has no words"
        ) from None
    return Listing(
        id=listing_id,
        title=clean_title,
        slug=slug,
        description=clean(strip_html(description, keep_paragraphs=True), keep_paragraphs=True),
    )
