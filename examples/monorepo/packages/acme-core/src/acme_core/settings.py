"""Typed settings from environment variables.

A settings class is a frozen dataclass; each field is read from ``<PREFIX><FIELD NAME>``
(``retry_attempts`` -> ``ACME_RETRY_ATTEMPTS``) and converted to the field's type. Packages
add their own fields by subclassing :class:`Settings`.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from acme_core.errors import ConfigError
from acme_core.retry import RetryPolicy

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

S = TypeVar("S")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """What every Acme service configures."""

    service: str = "acme"
    environment: str = "dev"
    log_level: str = "INFO"
    debug: bool = False
    retry_attempts: int = 3
    retry_base_delay: float = 0.2
    retry_max_delay: float = 10.0

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.retry_attempts,
            base_delay=self.retry_base_delay,
            max_delay=self.retry_max_delay,
        )


def load_settings(
    cls: type[S], environ: Mapping[str, str] | None = None, *, prefix: str = "ACME_"
) -> S:
    """An instance of the dataclass ``cls`` with its fields read from ``environ``.

    Unset variables leave the field's default; a field without a default must be set.
    Supported types: ``str``, ``int``, ``float``, ``bool``, ``tuple[str, ...]``
    (comma-separated) and any of them ``| None``.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    environ = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        variable = f"{prefix}{field.name.upper()}"
        if variable in environ:
            values[field.name] = _convert(environ[variable], hints[field.name], variable)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{variable} is not set")
    return cls(**values)


def _convert(raw: str, hint: Any, variable: str) -> Any:
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        # Only "X | None" is supported: an empty variable means None.
        (inner,) = (arg for arg in args if arg is not type(None))
        return None if raw == "" else _convert(raw, inner, variable)
    if typing.get_origin(hint) is tuple and args == (str, ...):
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    if hint is bool:
        if raw.strip().lower() in _TRUE:
            return True
        if raw.strip().lower() in _FALSE:
            return False
        raise ConfigError(f"{variable}={raw!r} is not a boolean; use true or false")
    if hint in (int, float):
        try:
            return hint(raw)
        except ValueError:
            kind = "an integer" if hint is int else "a number"
            raise ConfigError(f"{variable}={raw!r} is not {kind}") from None
    if hint is str:
        return raw
    raise TypeError(f"unsupported settings type {hint!r} for {variable}")
