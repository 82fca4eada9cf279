"""Shared building blocks of Acme's services: typed settings, JSON logging, errors, retries."""

from importlib.metadata import version

from acme_core.errors import AcmeError, ConfigError, RetryError, TransientError
from acme_core.log import JsonFormatter, configure_logging
from acme_core.retry import RetryPolicy, is_transient
from acme_core.settings import Settings, load_settings

# Read from the installed metadata, so pyproject.toml is the one place the version lives.
__version__ = version("acme-core")

__all__ = [
    "AcmeError",
    "ConfigError",
    "JsonFormatter",
    "RetryError",
    "RetryPolicy",
    "Settings",
    "TransientError",
    "__version__",
    "configure_logging",
    "is_transient",
    "load_settings",
]
