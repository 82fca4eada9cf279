from acme_text import clean, normalize_unicode, normalize_whitespace, strip_accents


def test_compatibility_characters_are_folded() -> None:
    # Look-alike characters are the point of this test.
    assert normalize_unicode("ﬁle ① ＡＢＣ") == "file 1 ABC"  # noqa: RUF001


def test_invisible_characters_are_removed_and_line_breaks_unified() -> None:
    text = "\ufeffzero\u200bwidth\x00\r\nnext\rline\ttab"

    assert normalize_unicode(text) == "zerowidth\nnext\nline\ttab"


def test_whitespace_is_collapsed() -> None:
    assert normalize_whitespace("  many \t spaces\n\nand\u00a0lines ") == "many spaces and lines"


def test_paragraphs_can_be_kept() -> None:
    text = "First line\ncontinues.\n\n\n  Second   paragraph.  "

    assert normalize_whitespace(text, keep_paragraphs=True) == (
        "First line continues.\n\nSecond paragraph."
    )


def test_accents_are_stripped() -> None:
    assert strip_accents("Crème brûlée à São Paulo") == "Creme brulee a Sao Paulo"


def test_clean_handles_pasted_text() -> None:
    pasted = "\u200b  Ｏｒｄｅｒ\u00a0＃４２ \r\n shipped\x07 "  # noqa: RUF001

    assert clean(pasted) == "Order #42 shipped"
