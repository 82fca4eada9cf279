from acme_text import strip_html


def test_tags_are_removed_and_entities_decoded() -> None:
    html = '<p class="lead">Fish &amp; chips for <b>&pound;5</b>&nbsp;only</p>'

    assert strip_html(html) == "Fish & chips for £5 only"


def test_scripts_styles_and_comments_are_not_text() -> None:
    html = """
        <html><head><title>Ignored</title><style>p { color: red }</style></head>
        <body><script>alert("x < y")</script><!-- note -->Visible</body></html>
    """

    assert strip_html(html) == "Visible"


def test_block_elements_become_paragraphs() -> None:
    html = "<h1>Returns</h1><p>Within 30 days.<br>No receipt needed.</p><ul><li>Shoes</li></ul>"

    assert strip_html(html, keep_paragraphs=True) == (
        "Returns\n\nWithin 30 days. No receipt needed.\n\nShoes"
    )


def test_broken_markup_is_tolerated() -> None:
    html = "<div><p>unclosed <i>tags & a stray < sign"

    assert strip_html(html) == "unclosed tags & a stray < sign"
