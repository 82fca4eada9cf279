"""Finding the index's credentials: variables, then .pypirc, then the keyring."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.credentials import SimpleCredential

from pubkit.errors import UsageError
from pubkit.releasing.adapters.credentials import find_credentials
from pubkit.releasing.adapters.index_client import Credentials

UPLOAD = "https://pypi.example.com/"
INDEX = "https://pypi.example.com/simple/"


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[str, tuple[str, str]] = {}

    def get_password(self, service: str, username: str) -> str | None:
        entry = self.entries.get(service)
        return entry[1] if entry and entry[0] == username else None

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[service] = (username, password)

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop(service, None)

    def get_credential(self, service: str, username: str | None) -> SimpleCredential | None:
        entry = self.entries.get(service)
        return SimpleCredential(*entry) if entry else None


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


def pypirc(tmp_path: Path, text: str) -> dict[str, str]:
    (tmp_path / ".pypirc").write_text(text)
    return {"PUBKIT_PYPIRC": str(tmp_path / ".pypirc")}


def test_variables_come_first(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password(UPLOAD, "kr", "kr-secret")
    env = pypirc(tmp_path, f"[internal]\nrepository = {UPLOAD}\nusername = rc\npassword = x\n")
    token = find_credentials(UPLOAD, INDEX, environ={**env, "PUBKIT_INDEX_TOKEN": "tok"})
    assert token == Credentials("__token__", "tok")
    pair = {**env, "PUBKIT_INDEX_USERNAME": "ci", "PUBKIT_INDEX_PASSWORD": "pw"}
    assert find_credentials(UPLOAD, INDEX, environ=pair) == Credentials("ci", "pw")
    with pytest.raises(UsageError, match="set both PUBKIT_INDEX_USERNAME"):
        find_credentials(UPLOAD, INDEX, environ={"PUBKIT_INDEX_USERNAME": "ci"})


def test_pypirc_section_matching_the_upload_or_index_url(tmp_path: Path) -> None:
    env = pypirc(tmp_path, (
        "[distutils]\nindex-servers = pypi internal\n\n"
        "[pypi]\nusername = __token__\npassword = pypi-public\n\n"
        f"[internal]\nrepository = {UPLOAD.rstrip('/')}\nusername = rc\npassword = rc-secret\n"
    ))  # fmt: skip
    assert find_credentials(UPLOAD, INDEX, environ=env) == Credentials("rc", "rc-secret")
    assert find_credentials("https://elsewhere/", None, environ=env) is None


def test_keyring_under_the_upload_url(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    env = {"PUBKIT_PYPIRC": str(tmp_path / "missing")}
    assert find_credentials(UPLOAD, INDEX, environ=env) is None
    memory_keyring.set_password(UPLOAD, "kr", "kr-secret")
    assert find_credentials(UPLOAD, INDEX, environ=env) == Credentials("kr", "kr-secret")


def test_a_broken_pypirc_is_named_not_dumped(tmp_path: Path) -> None:
    env = pypirc(tmp_path, "password = hunter2\n[broken\n")
    with pytest.raises(Exception, match=r"is not a valid \.pypirc") as caught:
        find_credentials(UPLOAD, INDEX, environ=env)
    assert "hunter2" not in str(caught.value)
