import pytest
from acme_core import AcmeError
from acme_text import SlugError, slugify


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Hello, World!", "hello-world"),
        ("Crème Brûlée — 2 for £5", "creme-brulee-2-for-5"),
        ("Straße & Smørrebrød", "strasse-smorrebrod"),
    ],
)
def test_slugify(text: str, slug: str) -> None:
    assert slugify(text) == slug


def test_long_slugs_are_cut_between_words() -> None:
    assert slugify("The quick brown fox jumps", max_length=15) == "the-quick-brown"
    assert slugify("The quick brown fox jumps", max_length=13) == "the-quick"
    assert slugify("Supercalifragilistic", max_length=5) == "super"
    assert slugify("Quarterly Report Q3", separator="_", max_length=17) == "quarterly_report"


def test_text_without_letters_or_digits_is_an_error() -> None:
    with pytest.raises(SlugError, match="cannot make a slug") as caught:
        slugify("💥 !!! 🔥")

    # Callers can catch it as a ValueError or as any Acme error.
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, AcmeError)
