"""Cleans raw catalogue listings with acme-text and publishes them as acme-kafka events."""

from importlib.metadata import version

from acme_catalog_worker.listings import InvalidListingError, Listing, clean_listing, parse_listing
from acme_catalog_worker.worker import LISTING_CLEANED, Rejection, Summary, run

__version__ = version("acme-catalog-worker")

__all__ = [
    "LISTING_CLEANED",
    "InvalidListingError",
    "Listing",
    "Rejection",
    "Summary",
    "__version__",
    "clean_listing",
    "parse_listing",
    "run",
]
