"""Plain text from HTML, with the standard library's forgiving parser."""

from __future__ import annotations

from html.parser import HTMLParser

from acme_text.normalize import normalize_whitespace

# Their content is not text a reader sees.
_SKIPPED = frozenset({"script", "style", "template", "head", "noscript"})
# They start a new paragraph.
_BLOCKS = frozenset(
    {"p", "div", "section", "article", "header", "footer", "blockquote", "pre"}
    | {"ul", "ol", "li", "table", "tr", "h1", "h2", "h3", "h4", "h5", "h6"}
)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities arrive decoded: "&amp;" -> "&"
        self.parts: list[str] = []
        self._skipping = 0  # depth inside skipped elements

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        elif tag in _BLOCKS:
            self.parts.append("\n\n")
        elif tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def strip_html(html: str, *, keep_paragraphs: bool = False) -> str:
    """The text of an HTML fragment or document, without tags, scripts and styles.

    Entities are decoded and whitespace normalized; with ``keep_paragraphs``, block elements
    (``<p>``, ``<li>``, headings...) are separated by a blank line.
    """
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return normalize_whitespace("".join(parser.parts), keep_paragraphs=keep_paragraphs)
