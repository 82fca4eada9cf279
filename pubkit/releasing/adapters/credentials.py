"""Where the release tool finds the index's credentials, first match wins:

1. ``PUBKIT_INDEX_TOKEN`` (sent as the user ``__token__``, as PyPI does);
2. ``PUBKIT_INDEX_USERNAME`` + ``PUBKIT_INDEX_PASSWORD``;
3. a ``.pypirc`` section whose ``repository`` is the upload URL or the index URL (twine's file:
   ``~/.pypirc``, or the file named by ``PUBKIT_PYPIRC``);
4. the system keyring, under the upload URL or the index URL (as twine stores them), when the
   ``keyring`` package is installed.

Credentials are never printed: errors name the source, not the secret.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from pathlib import Path

from pubkit.errors import ConfigurationError, UsageError
from pubkit.releasing.adapters.index_client import Credentials


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def from_environment(environ: Mapping[str, str]) -> Credentials | None:
    token = environ.get("PUBKIT_INDEX_TOKEN")
    if token:
        return Credentials.token(token)
    username = environ.get("PUBKIT_INDEX_USERNAME")
    password = environ.get("PUBKIT_INDEX_PASSWORD")
    if username and password:
        return Credentials(username, password)
    if username or password:
        raise UsageError(
            "set both PUBKIT_INDEX_USERNAME and PUBKIT_INDEX_PASSWORD, or PUBKIT_INDEX_TOKEN"
        )
    return None


def from_pypirc(path: Path, urls: tuple[str, ...]) -> Credentials | None:
    """The credentials of the ``.pypirc`` section whose ``repository`` is one of ``urls``."""
    if not path.is_file():
        return None
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as error:
        raise ConfigurationError(
            f"{path} is not a valid .pypirc ({type(error).__name__}); fix or remove it"
        ) from None
    for section in parser.sections():
        repository = parser.get(section, "repository", fallback="")
        if not repository or not any(_same_url(repository, url) for url in urls):
            continue
        username = parser.get(section, "username", fallback="")
        password = parser.get(section, "password", fallback="")
        if username and password:
            return Credentials(username, password)
    return None


def from_keyring(urls: tuple[str, ...]) -> Credentials | None:
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        return None
    for url in urls:
        try:
            found = keyring.get_credential(url, None)
        except (KeyringError, RuntimeError):
            return None  # no usable backend (a CI machine): not an error, just no credentials
        if found is not None and found.username and found.password:
            return Credentials(found.username, found.password)
    return None


def find_credentials(
    *urls: str | None, environ: Mapping[str, str] | None = None
) -> Credentials | None:
    """The credentials for the index at ``urls`` (upload URL, index URL), or None."""
    environ = os.environ if environ is None else environ
    found = from_environment(environ)
    if found is not None:
        return found
    wanted = tuple(url for url in urls if url)
    if not wanted:
        return None
    pypirc = Path(environ.get("PUBKIT_PYPIRC") or Path.home() / ".pypirc")
    return from_pypirc(pypirc, wanted) or from_keyring(wanted)


def credentials_for_index(
    index_url: str | None, upload_url: str | None = None
) -> Credentials | None:
    """:func:`find_credentials` for an index: its upload URL, when not given, is the one
    derived from the simple URL (when it can be; a ``.pypirc`` names upload URLs)."""
    from pubkit.errors import PubkitError
    from pubkit.releasing.core.publishing import upload_url_for

    if upload_url is None and index_url:
        try:
            upload_url = upload_url_for(index_url)
        except PubkitError:
            upload_url = None
    return find_credentials(upload_url, index_url)
