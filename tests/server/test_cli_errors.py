"""Every CLI failure is one ``error:`` line on stderr: exit 2 for usage and configuration
errors, 1 for failures, never a traceback unless asked for with --debug or PUBKIT_DEBUG=1.

The bad inputs come from three places: the typos a user makes (run as a real process), cases
generated from every command's parameters (unknown option, missing argument, option without
its value, a word where a number goes), and each command's own refusals.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from pubkit.cli import app, main
from tests.cli_support import run_cli as run

TYPOS = [
    ("relase", "No such command 'relase'. Did you mean 'release'"),
    ("user ad bob", "No such command 'ad'. Did you mean 'add'?"),
    ("serve --prot 9000", "No such option: --prot. Did you mean --host or --port?"),
    ("user add", "Missing argument 'name'"),
    ("serve --port abc", "Invalid value for '--port'"),
    ("release --dev abc", "Invalid value for '--dev'"),
    ("--versoin", "No such option: --versoin. Did you mean --version?"),
]


def assert_one_error_line(code: int, err: str, expected_code: int = 2) -> str:
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert code == expected_code, (code, err)
    return lines[0]


@pytest.mark.parametrize(("argv", "message"), TYPOS, ids=[argv for argv, _ in TYPOS])
def test_the_typos_of_a_new_user(argv: str, message: str, tmp_path: Path) -> None:
    ran = subprocess.run([sys.executable, "-m", "pubkit", *argv.split()], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    line = assert_one_error_line(ran.returncode, ran.stderr)
    assert message in line and ran.stdout == ""




def leaf_commands() -> Iterator[tuple[list[str], Any]]:
    def walk(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
        children = getattr(command, "commands", None)
        if not children:
            yield path, command
            return
        for name, child in children.items():
            yield from walk(child, [*path, name])

    yield from walk(typer.main.get_command(app), [])


def _is_int(parameter: Any) -> bool:
    descriptor = getattr(parameter, "type_descriptor", None)
    return getattr(descriptor, "annotation", None) is int or (
        getattr(getattr(parameter, "type", None), "name", "") == "integer"
    )


def generated_cases() -> Iterator[Any]:
    for path, command in leaf_commands():
        name = " ".join(path)
        parameters = [p for p in command.params if p.name != "help"]
        yield pytest.param([*path, "--no-such-option"], id=f"{name} --no-such-option")
        if any(p.required for p in parameters):
            yield pytest.param(path, id=f"{name} (missing)")
        arguments = [p for p in parameters if p.param_type_name == "argument"]
        if all(p.nargs > 0 for p in arguments):
            extra = ["x"] * (sum(p.nargs for p in arguments) + 1)
            yield pytest.param([*path, *extra], id=f"{name} (one argument too many)")
        for option in parameters:
            if option.param_type_name != "option" or option.is_flag:
                continue
            flag = option.opts[0]
            yield pytest.param([*path, flag], id=f"{name} {flag} (no value)")
            if _is_int(option):
                yield pytest.param([*path, flag, "abc"], id=f"{name} {flag} abc")


@pytest.mark.parametrize("argv", list(generated_cases()))
def test_every_command_refuses_bad_usage_in_one_line(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    code, out, err = run(monkeypatch, capsys, *argv)
    assert_one_error_line(code, err)
    assert out == ""


def test_the_refusals_cover_every_command() -> None:
    commands = {" ".join(path) for path, _ in leaf_commands()}
    covered = {" ".join(argv.split()[:2]) if argv.split()[0] in GROUPS else argv.split()[0]
               for argv, _, _ in REFUSALS}  # fmt: skip
    assert commands - covered == set()


GROUPS = ("user", "token", "group", "role", "project", "index", "migrate", "upstream")
# Each command's own refusals: (argv, exit code, what the line says). D is a data dir, F a file.
REFUSALS = [
    ("init --version-strategy nope", 2, "--version-strategy 'nope' is unknown"),
    ("init --workspace /nonexistent", 2, "is not a directory"),
    ("plan --bump huge", 2, "--bump 'huge' is unknown"),
    ("plan --workspace /nonexistent", 2, "run `pubkit init` there"),
    ("build --workspace /nonexistent", 2, "run `pubkit init` there"),
    ("check --workspace /nonexistent", 2, "run `pubkit init` there"),
    ("test --workspace /nonexistent", 2, "run `pubkit init` there"),
    ("publish --workspace /nonexistent", 2, "run `pubkit init` there"),
    ("release --bump huge", 2, "--bump 'huge' is unknown"),
    ("release --jobs 0", 2, "Invalid value for '--jobs'"),
    ("serve --read nobody", 2, "read policy 'nobody' is unknown"),
    ("serve --create-projects nobody", 2, "create projects 'nobody' is not understood"),
    ("serve --download-mode teleport", 2, "download mode 'teleport' is unknown"),
    ("serve --max-upload-size big", 2, "a size is a number of bytes"),
    ("serve --log-level loud", 2, "log level 'loud' is unknown"),
    ("serve --workers 0", 2, "workers must be at least 1"),
    ("serve --port 70000", 2, "port 70000 is out of range"),
    ("serve --storage ftp://x", 2, "storage URL 'ftp://x' is not understood"),
    ("serve --catalog mysql://x", 2, "catalog URL 'mysql://x' is not understood"),
    ("serve --upstream ftp://x", 2, "upstream 'ftp://x/' is not an http(s) URL"),
    ("serve --upstream-mode teleport", 2, "upstream mode 'teleport' is unknown"),
    ("serve --upstream-min-age soon", 2, "a duration is a number of seconds"),
    ("serve --data-dir F", 2, "the data directory F is a file, not a directory"),
    ("serve --data-dir /proc/pubkit", 2, "cannot create the data directory /proc/pubkit"),
    ("user list --data-dir F", 2, "F is a file, not a directory; choose another --data-dir"),
    ("user list --data-dir /proc/pubkit", 2, "cannot create the catalog's directory"),
    ("audit --limit 0 --data-dir D", 2, "Invalid value for '--limit'"),
    ("yank x 1.0 --data-dir D", 1, "x has no release 1.0"),
    ("unyank x 1.0 --data-dir D", 1, "x has no release 1.0"),
    ("yank x 1.0 --server http://127.0.0.1:9/ --data-dir D", 2, "pass one or the other"),
    ("delete p 1.0 --data-dir D", 2, "pass --yes to confirm"),
    ("user add bob --data-dir D", 2, "no terminal to ask for a password"),
    ("user add bob --password-stdin --data-dir D", 2, "no password on standard input"),
    ("user remove nobody --data-dir D", 1, "nobody"),
    ("user admin nobody --data-dir D", 1, "no user 'nobody'"),
    ("user disable nobody --data-dir D", 1, "no user 'nobody'"),
    ("user passwd nobody --password-stdin --data-dir D", 2, "no password on standard input"),
    ("token create --user bob --expires soon --data-dir D", 2, "--expires 'soon'"),
    ("token create --user bob --read --upload --data-dir D", 2, "pass --read or --upload"),
    ("token revoke garbage --data-dir D", 1, "no token 'garbage'"),
    ("group add @@ --data-dir D", 2, "invalid group name"),
    ("group add-member nogroup bob --data-dir D", 1, "nogroup"),
    ("role grant p u boss --data-dir D", 2, "role 'boss' is unknown"),
    ("role revoke p u boss --data-dir D", 2, "role 'boss' is unknown"),
    ("project show nothing-here --data-dir D", 1, "nothing-here"),
    ("project private Bad!Name --data-dir D", 2, "'Bad!Name' is not a valid project name"),
    ("project public Bad!Name --data-dir D", 2, "'Bad!Name' is not a valid project name"),
    ("role grant Bad!Name bob owner --data-dir D", 2, "'Bad!Name' is not a valid project name"),
    ("role list nothing --data-dir D", 1, "no project 'nothing'"),
    ("project reserve Bad!Name --data-dir D", 2, "'Bad!Name' is not a valid project name"),
    ("project track nothing --upstream --data-dir D", 1, "'nothing' is not on this index"),
    ("project upstream-min-age p soon --data-dir D", 2, "'soon' is not a duration"),
    ("upstream status --data-dir D", 2, "no upstream to check"),
    ("upstream prune --older-than soon --data-dir D", 2, "--older-than 'soon'"),
    ("group remove nogroup --data-dir D", 1, "no group 'nogroup'"),
    ("group remove-member nogroup bob --data-dir D", 1, "no group 'nogroup'"),
    ("group list --server http://127.0.0.1:9/ --data-dir D", 2, "pass one or the other"),
    ("token list --server http://127.0.0.1:9/ --data-dir D", 2, "pass one or the other"),
    ("index rebuild --storage ftp://x", 2, "storage URL 'ftp://x' is not understood"),
    ("index verify --force --data-dir D", 2, "--force only applies with --repair"),
    ("index verify --grace -1 --data-dir D", 2, "Invalid value for '--grace'"),
    ("index prune --older-than soon --data-dir D", 2, "--older-than 'soon'"),
    ("graph --format png", 2, "--format 'png' is unknown"),
    ("index prune --keep -1 --data-dir D", 2, "Invalid value for '--keep'"),
    ("migrate from-pypiserver F --owner alice --data-dir D", 2, "F is not a directory"),
    ("migrate from-pypiserver D --owner nobody --data-dir D", 2, "'nobody' is not a pubkit user"),
    ("migrate from-pypicloud ftp://x --owner alice --data-dir D", 2, "is not an s3:// URL"),
    ("index export F --data-dir D", 1, "exists; pass --force"),
    ("index import /nonexistent --data-dir D", 2, "cannot read /nonexistent"),
    ("index mirror ftp://a ftp://b", 2, "storage URL 'ftp://a' is not understood"),
    ("index mirror file:///nonexistent file:///nonexistent2", 2, "is not a directory"),
]


@pytest.mark.parametrize(("argv", "code", "message"), REFUSALS, ids=[a for a, _, _ in REFUSALS])
def test_each_command_refuses_in_one_line(
    argv: str, code: int, message: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    (tmp_path / "D").mkdir()
    (tmp_path / "F").write_text("a file\n")
    words = [{"D": str(tmp_path / "D"), "F": "F"}.get(word, word) for word in argv.split()]
    if words[0] == "serve":  # refused before it listens: a port nobody uses is not needed
        words += [] if "--port" in words else ["--port", "1"]
    got, _, err = run(monkeypatch, capsys, *words)
    line = assert_one_error_line(got, err, code)
    assert message in line, line


def _boom(*_args: Any, **_kwargs: Any) -> None:
    raise RuntimeError("something nobody planned for")


def test_an_unexpected_failure_is_one_line_without_debug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("pubkit.cli.serve.server_settings", _boom)
    code, _, err = run(monkeypatch, capsys, "serve", "--data-dir", str(tmp_path))
    line = assert_one_error_line(code, err, 1)
    assert line == (
        "error: unexpected RuntimeError: something nobody planned for"
        " (run with --debug or PUBKIT_DEBUG=1 for the traceback)"
    )


@pytest.mark.parametrize("how", ["--debug", "PUBKIT_DEBUG=1"])
def test_debug_shows_the_traceback(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("pubkit.cli.serve.server_settings", _boom)
    argv = ["serve", "--data-dir", str(tmp_path)]
    if how == "--debug":
        argv.insert(0, "--debug")
    else:
        monkeypatch.setenv("PUBKIT_DEBUG", "1")
    with pytest.raises(RuntimeError, match="something nobody planned for"):
        main(argv)


def test_a_group_without_its_command_shows_its_help(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(monkeypatch, capsys, "user")
    assert code == 2 and "Traceback" not in out + err and "add" in out + err
