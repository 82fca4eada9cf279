from __future__ import annotations

import subprocess
import sys

import pubkit


def test_public_names_resolve() -> None:
    for name in pubkit.__all__:
        assert getattr(pubkit, name) is not None
    assert pubkit.Workspace.load is not None


def test_the_server_does_not_load_the_release_tool() -> None:
    # The server's workers must stay small: importing the app must not pull in the planner,
    # git, requests or typer.
    code = (
        "import sys, pubkit.server.app;"
        "print(sorted(m for m in ('pubkit.releasing', 'pubkit.releasing.adapters.git', 'requests',"
        " 'typer', 'rich') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


SERVER_EXTRA = ("sqlalchemy", "alembic", "starlette", "uvicorn", "python_multipart", "boto3",
                "psycopg")  # fmt: skip


def _cli_without_server_extra(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a pipeline's plain `pip install pubkit` has it: no server dependencies."""
    blocked = ", ".join(repr(name) for name in SERVER_EXTRA)
    code = (f"import sys\nfor name in ({blocked},): sys.modules[name] = None\n"
            "from pubkit.cli import main\nmain(sys.argv[1:])")  # fmt: skip
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          check=False, timeout=60)  # fmt: skip


def test_the_release_tool_works_without_the_server_extra() -> None:
    assert _cli_without_server_extra("--version").stdout.startswith("pubkit ")
    for command in ("release", "plan", "build", "init", "token"):
        shown = _cli_without_server_extra(command, "--help")
        assert shown.returncode == 0, shown.stderr
    for command in (["user", "list"], ["serve"], ["index", "mirror", "file:///a", "file:///b"]):
        refused = _cli_without_server_extra(*command)
        assert refused.returncode == 2, command
        assert refused.stderr == (
            "error: this command works on an index's data and needs the server extra:"
            " pip install 'pubkit[server]'\n"
        )
