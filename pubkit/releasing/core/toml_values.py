"""Small checks of parsed TOML values, with messages that name the key and show an example.
Pure; shared by the workspace config and the package readers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pubkit.errors import ConfigurationError


def toml_type(value: object) -> str:
    """The TOML name of a parsed value's type, for messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    return f"a {type(value).__name__}"


def expect_str(value: object, what: str, example: str) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(
            f"{what} must be a string, not {toml_type(value)}; e.g. {example}"
        )
    return value


def expect_str_list(value: object, what: str, example: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        got = "an array with non-strings" if isinstance(value, list | tuple) else toml_type(value)
        raise ConfigurationError(f"{what} must be an array of strings, not {got}; e.g. {example}")
    return tuple(value)


def table(mapping: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    """``mapping[key]`` as a table (empty when absent); ConfigurationError when not one."""
    value = mapping.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{where} [{key}] must be a table, not {toml_type(value)}")
    return value
