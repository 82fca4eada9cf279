from __future__ import annotations

from pathlib import Path

import pytest

from pubkit.errors import ConfigurationError
from pubkit.settings import (
    MIB,
    load_server_settings,
    parse_size,
    redact_url,
    settings_environment,
)


def test_defaults() -> None:
    settings = load_server_settings(environ={})
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8080, 1)
    assert settings.max_upload_size == 200 * MIB
    assert settings.read == "public"
    assert settings.storage_url.startswith("file:///")
    assert settings.catalog_url.startswith("sqlite:///")


def test_cli_beats_environment_beats_default() -> None:
    env = {"PUBKIT_PORT": "9000", "PUBKIT_HOST": "10.1.2.3", "PUBKIT_DATA_DIR": "/srv/x"}
    settings = load_server_settings({"port": 9100, "host": None}, environ=env)
    assert settings.port == 9100
    assert settings.host == "10.1.2.3"
    assert settings.data_dir == Path("/srv/x")


def test_environment_round_trip() -> None:
    settings = load_server_settings({"port": 8123, "max_upload_size": "1MiB"}, environ={})
    assert load_server_settings(environ=settings_environment(settings)) == settings


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"port": "eighty"}, "--port has an invalid value"),
        ({"port": 70000}, "out of range"),
        ({"workers": 0}, "at least 1"),
        ({"read": "everyone"}, "read policy"),
        ({"max_upload_size": "lots"}, "--max-upload-size has an invalid value"),
    ],
)
def test_bad_values_are_explained(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_server_settings(overrides, environ={})


def test_bad_environment_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="PUBKIT_WORKERS"):
        load_server_settings(environ={"PUBKIT_WORKERS": "many"})


@pytest.mark.parametrize(
    ("raw", "size"), [("200MiB", 200 * MIB), ("1GiB", 1024 * MIB), ("512k", 512 * 1024), ("10", 10)]
)
def test_parse_size(raw: str, size: int) -> None:
    assert parse_size(raw) == size


def test_redact_url() -> None:
    assert redact_url("postgresql://u:secret@db:5432/x") == "postgresql://u:***@db:5432/x"
    assert redact_url("sqlite:////tmp/x") == "sqlite:////tmp/x"
    # A user without a password is a token (sent as the user): hidden whole.
    assert redact_url("https://t0ken@host:8443/simple/") == "https://***@host:8443/simple/"
    assert redact_url("https://u:@host/simple/") == "https://u:***@host/simple/"
