"""Text cleaning for Acme's search and catalogue data: unicode, whitespace, HTML, slugs."""

from importlib.metadata import version

from acme_text.markup import strip_html
from acme_text.normalize import clean, normalize_unicode, normalize_whitespace, strip_accents
from acme_text.slug import SlugError, slugify

__version__ = version("acme-text")

__all__ = [
    "SlugError",
    "__version__",
    "clean",
    "normalize_unicode",
    "normalize_whitespace",
    "slugify",
    "strip_accents",
    "strip_html",
]
