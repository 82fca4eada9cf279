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
        "print(sorted(m for m in ('pubkit.planning', 'pubkit.adapters.git', 'requests',"
        " 'typer', 'rich') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
