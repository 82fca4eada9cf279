from dataclasses import dataclass

import pytest
from acme_core import ConfigError, RetryPolicy, Settings, load_settings


@dataclass(frozen=True, kw_only=True)
class ServiceSettings(Settings):
    database_url: str
    allowed_hosts: tuple[str, ...] = ()
    timeout: float | None = None


def test_defaults_when_nothing_is_set() -> None:
    settings = load_settings(Settings, {})

    assert settings == Settings()
    assert settings.retry_policy == RetryPolicy(attempts=3, base_delay=0.2, max_delay=10.0)


def test_values_are_converted_to_the_field_types() -> None:
    environ = {
        "ACME_SERVICE": "billing",
        "ACME_DEBUG": "yes",
        "ACME_RETRY_ATTEMPTS": "5",
        "ACME_RETRY_BASE_DELAY": "0.5",
        "ACME_DATABASE_URL": "postgresql://db/billing",
        "ACME_ALLOWED_HOSTS": "a.example, b.example,",
        "ACME_TIMEOUT": "2.5",
    }

    settings = load_settings(ServiceSettings, environ)

    assert settings.service == "billing"
    assert settings.debug is True
    assert settings.retry_attempts == 5
    assert settings.retry_policy.base_delay == 0.5
    assert settings.allowed_hosts == ("a.example", "b.example")
    assert settings.timeout == 2.5


def test_an_empty_optional_value_means_none() -> None:
    settings = load_settings(ServiceSettings, {"ACME_DATABASE_URL": "x", "ACME_TIMEOUT": ""})

    assert settings.timeout is None


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_LOG_LEVEL", "DEBUG")

    assert load_settings(Settings, prefix="BILLING_").log_level == "DEBUG"


def test_a_required_setting_must_be_set() -> None:
    with pytest.raises(ConfigError, match="ACME_DATABASE_URL is not set"):
        load_settings(ServiceSettings, {})


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ACME_RETRY_MAX_DELAY", "10s", "is not a number"),
        ("ACME_DEBUG", "maybe", "is not a boolean"),
    ],
)
def test_a_malformed_value_names_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"{variable}='{value}' {message}"):
        load_settings(Settings, {variable: value})
