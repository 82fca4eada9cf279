"""Errors of the command line, as one line each: click's usage errors and the unexpected.

typer raises the exceptions of the click it vendors (``typer._click``, since typer 0.22) or of
click itself (older typers); both are recognised by their module, so that a typer upgrade
cannot turn a typo back into a traceback.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

_CLICK_EXCEPTION_MODULES = ("typer._click.exceptions", "click.exceptions")


def _modules() -> list[ModuleType]:
    modules = []
    for name in _CLICK_EXCEPTION_MODULES:
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            continue
    return modules


@dataclass(frozen=True)
class ClickError:
    """What to print for one of click's exceptions: ``message`` (one line) and the exit code;
    ``help_text`` instead when click shows a command's help (a group called without one)."""

    message: str
    exit_code: int
    help_text: str | None = None


def click_error(error: BaseException) -> ClickError | None:
    """The line and exit code of ``error`` if it is one of click's exceptions, else None."""
    for module in _modules():
        if not isinstance(error, module.ClickException):
            continue
        exit_code = int(getattr(error, "exit_code", 1))
        if type(error).__name__ == "NoArgsIsHelpError":
            return ClickError("", exit_code, help_text=error.format_message())
        message = _message(error, module)
        if isinstance(error, module.UsageError):
            context: Any = error.ctx
            if context is not None:
                message += f" (see '{context.command_path} --help')"
        return ClickError(message, exit_code)
    return None


def _message(error: Any, module: ModuleType) -> str:
    if isinstance(error, module.NoSuchOption) and error.possibilities:
        options = " or ".join(sorted(error.possibilities))
        return f"No such option: {error.option_name}. Did you mean {options}?"
    message: str = error.format_message()
    return message


def unexpected(error: BaseException) -> str:
    """The line for an exception nobody meant to raise (a bug, or an environment pubkit does
    not explain yet): its type and text, and how to see the traceback."""
    text = str(error) or repr(error)
    return (
        f"unexpected {type(error).__name__}: {text}"
        " (run with --debug or PUBKIT_DEBUG=1 for the traceback)"
    )


def one_line(message: str) -> str:
    """``message`` with its line breaks and runs of blanks folded into single spaces."""
    return " ".join(message.split())
