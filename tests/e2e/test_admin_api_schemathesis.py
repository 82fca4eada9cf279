"""The admin API against its own OpenAPI document: schemathesis's CLI fuzzes a real
``pubkit serve`` (on 127.0.0.1) as an administrator and checks every answer: never a 5xx,
only documented statuses, content types and headers, bodies that match their schemas."""

from __future__ import annotations

import base64
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pubkit.testing import LiveServer, make_wheel
from tests.e2e.support import PASSWORDS, output, run, twine_upload

pytestmark = pytest.mark.e2e

ADMIN = "schemathesis-admin"  # a name the generated data never reaches by chance
ADMIN_PASSWORD = "schemathesis-admin-password"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
MAX_EXAMPLES = os.environ.get("PUBKIT_TEST_SCHEMATHESIS_EXAMPLES", "40")
SEED = os.environ.get("PUBKIT_TEST_SCHEMATHESIS_SEED", "20240601")


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own: the fuzzer adds, changes and removes users, groups and tokens."""
    # The fuzzer also sends wrong credentials; with the default pacing, the address would
    # soon be answered 429 whatever it sends, leaving the endpoints' logic untested.
    server = LiveServer(tmp_path_factory.mktemp("server") / "data",
                        env={"PUBKIT_AUTH_FAILURES_PER_MINUTE": "1000000"})  # fmt: skip
    for name, password in PASSWORDS.items():
        server.add_user(name, password)
    server.add_user(ADMIN, ADMIN_PASSWORD, admin=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def schemathesis_command() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    return found


# Changing the admin's password, removing or disabling the admin, or taking its
# administrator flag (once the fuzzer made another user an administrator) would lock the
# fuzzer out (and the stateful phase does learn its name, from GET /users): those operations
# get a run of their own, without the stateful phase, so the names they see are generated,
# never learned.
LOCKOUT = ("removeUser", "setPassword", "setAdmin", "setDisabled")


def schemathesis(server: LiveServer, cwd: Path, *selection: str) -> None:
    credentials = base64.b64encode(f"{ADMIN}:{ADMIN_PASSWORD}".encode()).decode()
    result = run(
        [
            schemathesis_command(), "run", f"{server.url}api/v1/openapi.json",
            "--header", f"Authorization: Basic {credentials}",
            "--checks", ",".join(CHECKS),
            "--max-examples", MAX_EXAMPLES,
            "--seed", SEED,
            "--workers", "1",
            "--request-timeout", "20",
            "--generation-database", "none",
            "--no-color",
            *selection,
        ],
        cwd=cwd,  # no schemathesis.toml of the work tree, and its reports stay here
    )  # fmt: skip
    print(output(result))  # the summary (calls, checks), shown by pytest -rP
    assert result.returncode == 0, output(result) + "\n--- server log\n" + server.log()[-5000:]


def test_the_admin_api_keeps_its_openapi_document(api_server: LiveServer, tmp_path: Path) -> None:
    # A release for the document's example project, so yank, unyank and delete succeed once.
    wheel = make_wheel(tmp_path / "dists", "example-project", "1.0")
    uploaded = twine_upload(api_server, [wheel], "alice")
    assert uploaded.returncode == 0, output(uploaded)
    excluded = [arg for operation in LOCKOUT for arg in ("--exclude-operation-id", operation)]
    schemathesis(api_server, tmp_path, *excluded)
    included = [arg for operation in LOCKOUT for arg in ("--include-operation-id", operation)]
    schemathesis(api_server, tmp_path, *included, "--phases", "examples,coverage,fuzzing")
    # The fuzzer's admin is still signed in: nothing above locked it out.
    whoami = requests.get(f"{api_server.url}api/v1/whoami", auth=(ADMIN, ADMIN_PASSWORD),
                          timeout=10)  # fmt: skip
    assert whoami.status_code == 200, whoami.text
    assert whoami.json()["admin"] is True
