from __future__ import annotations

import pytest
from packaging.version import Version

from pubkit.core.distributions import (
    is_normalized,
    normalize_name,
    parse_distribution_filename,
)
from pubkit.errors import InvalidDistributionError


@pytest.mark.parametrize(
    ("name", "normalized"),
    [("Foo_Bar", "foo-bar"), ("foo.bar", "foo-bar"), ("FOO--bar__baz", "foo-bar-baz"), ("a", "a")],
)
def test_normalize_name(name: str, normalized: str) -> None:
    assert normalize_name(name) == normalized
    assert is_normalized(normalized)


@pytest.mark.parametrize(
    ("filename", "project", "version", "kind"),
    [
        ("Foo_Bar-1.0-py3-none-any.whl", "foo-bar", "1.0", "bdist_wheel"),
        ("foo-2.0rc1-1-cp311-cp311-manylinux_2_17_x86_64.whl", "foo", "2.0rc1", "bdist_wheel"),
        ("foo_bar-1.0.post1.tar.gz", "foo-bar", "1.0.post1", "sdist"),
        ("pkg-1.0+local.1.tar.gz", "pkg", "1.0+local.1", "sdist"),
    ],
)
def test_parse_valid(filename: str, project: str, version: str, kind: str) -> None:
    parsed = parse_distribution_filename(filename)
    assert (parsed.project, parsed.version, parsed.packagetype) == (project, Version(version), kind)


@pytest.mark.parametrize(
    ("filename", "message"),
    [
        ("../evil-1.0.tar.gz", "only letters"),
        ("dir/evil-1.0.tar.gz", "only letters"),
        ("evil-1.0..tar.gz", "only letters"),
        ("evil 1.0.tar.gz", "only letters"),
        ("", "1 to 255"),
        ("a" * 300 + "-1.0.tar.gz", "1 to 255"),
        ("foo-1.0.zip", "unsupported file type"),
        ("foo-1.0.egg", "unsupported file type"),
        ("foo-1.0-py3.whl", "invalid wheel filename"),
        ("foo-notaversion-py3-none-any.whl", "invalid wheel filename"),
        ("foo.tar.gz", "invalid sdist filename"),
    ],
)
def test_parse_invalid(filename: str, message: str) -> None:
    with pytest.raises(InvalidDistributionError, match=message):
        parse_distribution_filename(filename)


@pytest.mark.parametrize(
    ("filename", "canonical"),
    [
        ("Foo_Bar-1.0-py3-none-any.whl", "foo_bar-1.0-py3-none-any.whl"),
        ("foo.bar-1.0-PY3-None-Any.whl", "foo_bar-1.0-py3-none-any.whl"),
        ("foo-01.0-1-cp311-cp311-linux_x86_64.whl", "foo-1.0-1-cp311-cp311-linux_x86_64.whl"),
        ("Foo-Bar-1.0.tar.gz", "foo_bar-1.0.tar.gz"),
        ("foo_bar-1.0.0-py3-none-any.whl", "foo_bar-1.0.0-py3-none-any.whl"),
    ],
)
def test_canonical_filename(filename: str, canonical: str) -> None:
    assert parse_distribution_filename(filename).canonical == canonical
