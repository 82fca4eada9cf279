"""Running the pubkit CLI in the test's own process, as a user would from a shell."""

from __future__ import annotations

import io

import pytest

from pubkit.cli import main


def run_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str,
    stdin: str = "",
) -> tuple[int, str, str]:  # fmt: skip
    """``pubkit ARGV`` with ``stdin`` as its input: the exit code, stdout and stderr."""
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = 0
    try:
        main(list(argv))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
