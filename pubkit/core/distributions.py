"""Names and filenames of distributions, per PEP 503, PEP 427/491 and PEP 625.

Everything here is pure: it decides whether a name or filename is acceptable and what it
means, and never touches the disk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from pubkit.errors import InvalidDistributionError

PackageType = Literal["sdist", "bdist_wheel"]

# PEP 508 project names: ASCII letters, digits, and . _ - inside (re.ASCII: without it,
# IGNORECASE lets the Kelvin sign U+212A match "k").
_PROJECT_NAME = re.compile(
    r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE | re.ASCII
)
# The characters a wheel or sdist filename may contain; anything else (a slash, a NUL,
# a space, percent-encoding) is refused before the name is parsed at all.
_SAFE_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+!-]*$")
MAX_FILENAME_LENGTH = 255


def normalize_name(name: str) -> str:
    """The PEP 503 normalized form of a project name: lowercase, runs of -_. become -."""
    return canonicalize_name(name)


def is_valid_project_name(name: str) -> bool:
    return bool(_PROJECT_NAME.match(name))


def is_normalized(name: str) -> bool:
    """Whether ``name`` is already PEP 503 normalized. Asked on every ``/simple/`` page
    request, before any credential is checked: remembered for the names asked most, but
    only for names a project with files could have (no longer than a filename), as the
    cache's keys come from anonymous clients."""
    if len(name) > MAX_FILENAME_LENGTH:
        return normalize_name(name) == name
    return _is_normalized(name)


@lru_cache(maxsize=4096)
def _is_normalized(name: str) -> bool:
    return normalize_name(name) == name


@dataclass(frozen=True)
class DistributionFilename:
    """What a distribution's filename says about it."""

    filename: str
    project: str  # normalized
    version: Version
    packagetype: PackageType

    @property
    def is_wheel(self) -> bool:
        return self.packagetype == "bdist_wheel"

    @property
    def canonical(self) -> str:
        """The filename every spelling of this distribution's name maps to.

        ``Foo_Bar-1.0-py3-none-any.whl`` and ``foo_bar-1.0-py3-none-any.whl`` are one
        distribution to an installer, so they must be one file on the index.
        """
        stem = f"{self.project.replace('-', '_')}-{self.version}"
        if not self.is_wheel:
            return f"{stem}.tar.gz"
        rest = self.filename[: -len(".whl")].split("-")[2:]  # [build], python, abi, platform
        return "-".join([stem, *(part.lower() for part in rest)]) + ".whl"


@lru_cache(maxsize=4096)
def canonical_filename(filename: str) -> str:
    """``filename``'s canonical spelling (see :attr:`DistributionFilename.canonical`).

    Remembered for the filenames seen most: every download maps its catalog row's filename
    to a storage key, and parsing a wheel's name and tags each time was a tenth of the
    download path's work (issue 12).
    """
    return parse_distribution_filename(filename).canonical


def parse_distribution_filename(filename: str) -> DistributionFilename:
    """Parse an sdist (``.tar.gz``) or wheel filename, refusing anything unsafe or malformed."""
    if not filename or len(filename) > MAX_FILENAME_LENGTH:
        raise InvalidDistributionError(
            f"invalid filename {filename[:80]!r}: it must be 1 to {MAX_FILENAME_LENGTH} characters"
        )
    if not _SAFE_FILENAME.match(filename) or ".." in filename:
        raise InvalidDistributionError(
            f"invalid filename {filename[:80]!r}: only letters, digits and . _ + ! - are allowed"
        )
    if filename.endswith(".whl"):
        try:
            name, version, _build, _tags = parse_wheel_filename(filename)
        except InvalidWheelFilename as error:
            raise InvalidDistributionError(
                f"invalid wheel filename {filename!r}: {error}; see the binary distribution format"
                " specification"
            ) from None
        return DistributionFilename(filename, normalize_name(name), version, "bdist_wheel")
    if filename.endswith(".tar.gz"):
        try:
            name, version = parse_sdist_filename(filename)
        except InvalidSdistFilename as error:
            raise InvalidDistributionError(
                f"invalid sdist filename {filename!r}: {error}; expected NAME-VERSION.tar.gz"
            ) from None
        return DistributionFilename(filename, normalize_name(name), version, "sdist")
    raise InvalidDistributionError(
        f"unsupported file type {filename!r}: upload a wheel (.whl) or an sdist (.tar.gz)"
    )
