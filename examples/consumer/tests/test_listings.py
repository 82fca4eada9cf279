import pytest
from acme_catalog_worker import InvalidListingError, Listing, clean_listing, parse_listing
from acme_core import AcmeError


def test_html_unicode_and_whitespace_are_cleaned() -> None:
    raw = {
        "id": 42,
        # A zero-width space, a no-break space and a full-width "2" (\uff12).
        "title": "<b>Crème&nbsp;Brûlée</b>\u200b  — \uff12 for £5",
        "description": (
            "<p>Rich   custard.</p><script>track()</script>\r\n<p>Serves&nbsp;\uff12.</p>"
        ),
    }

    assert clean_listing(raw) == Listing(
        id="42",
        title="Crème Brûlée — 2 for £5",
        slug="creme-brulee-2-for-5",
        description="Rich custard.\n\nServes 2.",
    )


def test_a_long_title_gets_a_slug_cut_between_words() -> None:
    title = "Hand-thrown stoneware serving bowl with a speckled glaze, large, in moss green"

    listing = clean_listing({"id": "b-7", "title": title})

    assert listing.slug == "hand-thrown-stoneware-serving-bowl-with-a-speckled-glaze"
    assert listing.description == ""


def test_a_feed_line_is_a_json_object() -> None:
    assert parse_listing('{"id": "1", "title": "Mug"}') == {"id": "1", "title": "Mug"}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not JSON"),
        ('["id", "title"]', "not a JSON object but list"),
    ],
)
def test_lines_that_are_not_json_objects_are_invalid(line: str, reason: str) -> None:
    with pytest.raises(InvalidListingError, match=reason):
        parse_listing(line)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"title": "Mug"}, "the id must be"),
        ({"id": True, "title": "Mug"}, "the id must be"),
        ({"id": "  ", "title": "Mug"}, "the id must be"),
        ({"id": 3}, "listing 3: the title must be a string"),
        ({"id": 3, "title": "<b> </b> !!!"}, "listing 3: the title '<b> </b> !!!' has no words"),
        ({"id": 3, "title": "Mug", "description": ["big"]}, "the description must be a string"),
    ],
)
def test_listings_without_an_id_or_a_title_are_invalid(raw: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidListingError, match=reason) as caught:
        clean_listing(raw)

    # Callers may catch every Acme error at once, or treat it as the ValueError it is.
    assert isinstance(caught.value, AcmeError)
    assert isinstance(caught.value, ValueError)
