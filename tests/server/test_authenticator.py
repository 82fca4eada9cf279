from __future__ import annotations

from pathlib import Path

import pytest

from pubkit.errors import AuthenticationError
from pubkit.server import admin
from pubkit.server.auth import authenticator as module
from pubkit.server.auth.authenticator import Authenticator, Credentials
from pubkit.server.catalog import Catalog, open_catalog

GOOD = Credentials("alice", "first-password")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    catalog = open_catalog(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    admin.add_user(catalog, "alice", "first-password")
    return catalog


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = module.verify_password

    def counting(password: str, stored: str) -> bool:
        calls.append(password)
        return real(password, stored)

    monkeypatch.setattr(module, "verify_password", counting)
    return calls


def test_verified_password_is_cached(catalog: Catalog, verifications: list[str]) -> None:
    auth = Authenticator(catalog, 60, Clock())
    assert auth.authenticate(GOOD).name == "alice"
    assert auth.authenticate(GOOD).name == "alice"
    assert len(verifications) == 1


def test_cache_expires(catalog: Catalog, verifications: list[str]) -> None:
    clock = Clock()
    auth = Authenticator(catalog, 60, clock)
    auth.authenticate(GOOD)
    clock.now += 61
    auth.authenticate(GOOD)
    assert len(verifications) == 2


def test_credentials_in_use_stay_verified(catalog: Catalog, verifications: list[str]) -> None:
    clock = Clock()
    auth = Authenticator(catalog, 60, clock)
    auth.authenticate(GOOD)
    for _ in range(5):  # five minutes of steady use
        clock.now += 59
        assert auth.authenticate(GOOD).name == "alice"
    assert len(verifications) == 1
    clock.now += 61  # then a minute idle
    auth.authenticate(GOOD)
    assert len(verifications) == 2


def test_password_change_takes_effect_at_once(catalog: Catalog) -> None:
    auth = Authenticator(catalog, 60, Clock())
    auth.authenticate(GOOD)
    admin.change_password(catalog, "alice", "second-password")
    with pytest.raises(AuthenticationError):
        auth.authenticate(GOOD)
    assert auth.authenticate(Credentials("alice", "second-password")).name == "alice"


def test_removed_user_is_refused_at_once(catalog: Catalog) -> None:
    auth = Authenticator(catalog, 60, Clock())
    auth.authenticate(GOOD)
    catalog.remove_user("alice")
    with pytest.raises(AuthenticationError):
        auth.authenticate(GOOD)


def test_wrong_password_and_unknown_user_get_the_same_answer(
    catalog: Catalog, verifications: list[str]
) -> None:
    auth = Authenticator(catalog, 60, Clock())
    messages = []
    for credentials in (Credentials("alice", "wrong-password"), Credentials("nobody", "x" * 9)):
        with pytest.raises(AuthenticationError) as caught:
            auth.authenticate(credentials)
        messages.append(caught.value.message)
    assert messages[0] == messages[1]
    # Both paths ran the slow hash, so they cost the same time.
    assert len(verifications) == 2


def test_password_hashes_run_a_few_at_a_time_and_the_rest_are_turned_away(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst of sign-ins: at most HASH_SLOTS hashes at once, each waiting in the event loop
    (no thread held); those that wait longer than HASH_WAIT get a 503 to retry."""
    import threading
    import time

    import anyio

    from pubkit.errors import ServerBusyError

    running, most = 0, 0
    lock = threading.Lock()

    def slow(password: str, stored: str) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.2)
        with lock:
            running -= 1
        return False

    monkeypatch.setattr(module, "verify_password", slow)
    monkeypatch.setattr(module, "HASH_WAIT", 0.3)
    auth = Authenticator(catalog, 60, Clock())
    outcomes: list[str] = []

    async def one(number: int) -> None:
        try:
            await auth.authenticate_async(Credentials("alice", f"guess-{number}"))
        except ServerBusyError as error:
            outcomes.append(f"busy {error.http_status}")
        except AuthenticationError:
            outcomes.append("wrong")

    async def burst() -> None:
        async with anyio.create_task_group() as group:
            for number in range(10):
                group.start_soon(one, number)

    anyio.run(burst)
    assert most == module.HASH_SLOTS
    assert outcomes.count("wrong") <= 4  # two slots, 0.2 s each, 0.3 s of waiting at most
    assert outcomes.count("busy 503") >= 6
