"""Rendering for the web interface: the Jinja2 templates, the headers every page carries
(a strict Content-Security-Policy among them), and a release's README and metadata."""

from __future__ import annotations

import functools
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import jinja2
from packaging.metadata import parse_email
from starlette.requests import Request
from starlette.responses import HTMLResponse

from pubkit import __version__

# No inline script or style anywhere: what the pages use is a file served by pubkit.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self';"
    " object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    # Pages differ by who is signed in and may show a token once: never stored anywhere.
    "cache-control": "no-store",
}


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pubkit.server.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # compiled once: the templates ship in the wheel
    )
    env.filters["size"] = human_size
    env.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC") if value else ""
    env.filters["urlpart"] = lambda value: quote(str(value), safe="")
    env.globals["version"] = __version__
    return env


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


@dataclass
class Page:
    """What every template gets beside its own values."""

    request: Request
    user: str | None = None
    admin: bool = False
    csrf: str = ""
    flash: str | None = None
    values: dict[str, Any] = field(default_factory=dict)


def page(template: str, context: Page, status: int = 200,
         headers: dict[str, str] | None = None) -> HTMLResponse:  # fmt: skip
    html = environment().get_template(template).render(
        request=context.request, user=context.user, admin=context.admin, csrf=context.csrf,
        flash=context.flash, **context.values,
    )  # fmt: skip
    return HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


# -- a release's README and metadata -------------------------------------------------------

# Fields shown on a project page, in this order (multiple-use ones as lists).
SHOWN_FIELDS = (
    ("name", "Name"), ("version", "Version"), ("summary", "Summary"),
    ("requires_python", "Requires-Python"), ("license", "License"),
    ("license_expression", "License-Expression"), ("author", "Author"),
    ("author_email", "Author-email"), ("maintainer", "Maintainer"),
    ("home_page", "Home-page"), ("project_urls", "Project-URL"), ("keywords", "Keywords"),
    ("provides_extra", "Provides-Extra"), ("requires_dist", "Requires-Dist"),
    ("classifiers", "Classifier"),
)  # fmt: skip


@dataclass(frozen=True)
class Described:
    fields: list[tuple[str, list[str]]]
    readme: str | None  # sanitized HTML


def _values(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [f"{key}, {item}" for key, item in value.items()]
    if isinstance(value, list):
        return [str(item) for item in value]
    return [str(value)]


_EMPTY_LINK = re.compile(r"<a [^>]*></a>")
_IMG_WITHOUT_ALT = re.compile(r"<img(?![^>]*\balt=)")
# Code blocks name their programming language in ``lang``, which is for human languages.
_CODE_LANG = re.compile(r'<pre lang="')


def render_readme(text: str, content_type: str | None) -> str:
    """The README as PyPI renders it (readme_renderer, whose output nh3 sanitizes); as
    plain text if it cannot be. Heading anchors without text are dropped and images without
    alternative text get an empty one, and a code block's language moves out of ``lang``,
    so that a README cannot make a page inaccessible."""
    from readme_renderer import markdown, rst, txt

    media = (content_type or "text/x-rst").partition(";")[0].strip().lower()
    if media == "text/markdown":
        commonmark = "variant=commonmark" in (content_type or "").lower()
        variant = "CommonMark" if commonmark else "GFM"
        html = markdown.render(text, variant=variant)
    elif media == "text/plain":
        html = txt.render(text)
    else:
        html = rst.render(text)
    if html is None:  # reStructuredText that docutils refused (PyPI refuses the upload)
        html = txt.render(text) or ""
    html = _CODE_LANG.sub('<pre data-lang="', _EMPTY_LINK.sub("", html))
    return _IMG_WITHOUT_ALT.sub('<img alt=""', html)


class _Described:
    """Described metadata by its SHA-256 (rendering a README costs milliseconds)."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[str, Described] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str, raw: bytes) -> Described:
        with self._lock:
            found = self._items.get(digest)
            if found is not None:
                self._items.move_to_end(digest)
                return found
        described = describe(raw)
        with self._lock:
            self._items[digest] = described
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return described


def describe(raw: bytes) -> Described:
    fields, _unparsed = parse_email(raw.decode("utf-8", "replace"))
    shown = [(label, _values(fields[key])) for key, label in SHOWN_FIELDS  # type: ignore[literal-required]
             if fields.get(key)]  # fmt: skip
    description = fields.get("description")
    readme = None
    if description:
        readme = render_readme(str(description), fields.get("description_content_type"))
    return Described(shown, readme)


described = _Described()
