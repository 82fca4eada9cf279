"""Who may create a project by uploading a new name (`--create-projects`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pubkit.errors import ConfigurationError
from pubkit.server import admin
from pubkit.server.app import create_app
from pubkit.settings import load_server_settings
from pubkit.testing import make_wheel
from tests.server.conftest import PASSWORD, basic, upload_fields


def upload(client: TestClient, wheel: Path, user: str) -> tuple[int, str]:
    files = {"content": (wheel.name, wheel.read_bytes(), "application/octet-stream")}
    answer = client.post("/", data=upload_fields(wheel), files=files, headers=basic(user))
    return answer.status_code, answer.text


@pytest.mark.parametrize(
    ("create", "allowed"),
    [("any", {"alice", "carol", "root"}), ("admins", {"root"}), ("@release", {"carol", "root"})],
)
def test_the_creation_policy_decides_who_claims_a_new_name(
    data_dir: Path, dist_dir: Path, create: str, allowed: set[str]
) -> None:
    settings = load_server_settings({"data_dir": data_dir, "create_projects": create},
                                    environ={})  # fmt: skip
    app = create_app(settings)
    with TestClient(app) as client:
        catalog = app.state.services.catalog
        for name in ("alice", "carol", "root"):
            admin.add_user(catalog, name, PASSWORD, is_admin=name == "root")
        operations = admin.Admin(catalog, lambda: app.state.services.storage, "test")
        operations.add_group("release")
        operations.add_member("release", "carol")
        for user in ("alice", "carol", "root"):
            status, text = upload(client, make_wheel(dist_dir, f"new-by-{user}", "1.0"), user)
            assert (status == 200) == (user in allowed), (user, status, text)
            if status == 403:
                assert "may create projects here" in text
            else:  # the creator owns it
                assert catalog.project_roles(f"new-by-{user}") == [(user, "owner")]
        # An existing project is not a creation: its maintainers upload whatever the policy.
        operations.grant("new-by-root", "alice", "maintainer")
        assert upload(client, make_wheel(dist_dir, "new-by-root", "1.1"), "alice")[0] == 200


@pytest.mark.parametrize("value", ["nobody", "@", "release", "@ci,release", ""])
def test_an_unknown_creation_policy_is_refused(value: str) -> None:
    with pytest.raises(ConfigurationError, match="use any, admins or @group"):
        load_server_settings({"create_projects": value}, environ={})
