from __future__ import annotations

import pytest

from pubkit.server.simple import HTML_V1, JSON_V1, TEXT_HTML, negotiate

PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1,"
    " text/html; q=0.01"
)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, TEXT_HTML),
        ("", TEXT_HTML),
        ("*/*", TEXT_HTML),
        ("text/html", TEXT_HTML),
        ("text/*", TEXT_HTML),
        (PIP_ACCEPT, JSON_V1),
        ("application/vnd.pypi.simple.v1+json", JSON_V1),
        ("application/vnd.pypi.simple.latest+json", JSON_V1),
        ("application/vnd.pypi.simple.latest+html", HTML_V1),
        ("application/vnd.pypi.simple.v1+html", HTML_V1),
        ("text/html;q=0.5, application/vnd.pypi.simple.v1+json;q=0.4", TEXT_HTML),
        ("application/vnd.pypi.simple.v1+json, text/html", JSON_V1),
        ("text/html;q=0, */*;q=0.1", HTML_V1),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", TEXT_HTML),
        ("application/json", None),
        ("application/vnd.pypi.simple.v2+json", None),
        ("text/plain", None),
        ("text/html;q=0", None),
        ("text/html;q=bogus", None),
    ],
)
def test_negotiate(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept) == expected
