from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from pubkit.releasing.adapters.index_client import Credentials
from pubkit.releasing.adapters.publisher import (
    Answer,
    NetworkError,
    PublishError,
    TwinePublisher,
)

Outcome = Answer | NetworkError


class Endpoint:
    """Answers each upload in turn from ``outcomes``; records (file, credentials)."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, Credentials | None]] = []

    def __call__(self, url: str, credentials: Credentials | None, path: Path) -> Answer:
        self.calls.append((path.name, credentials))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, NetworkError):
            raise outcome
        return outcome


SDIST, WHEEL = Path("a-1.0.tar.gz"), Path("a-1.0-py3-none-any.whl")


def test_transient_failures_are_retried_with_backoff() -> None:
    endpoint = Endpoint(Answer(503, "Service Unavailable"), Answer(200))
    slept: list[float] = []
    TwinePublisher("http://x/", Credentials("u", "secret"), endpoint, sleep=slept.append
                   ).upload([SDIST])  # fmt: skip
    assert endpoint.calls == [("a-1.0.tar.gz", Credentials("u", "secret"))] * 2
    assert slept == [2.0]


def test_refusals_are_not_retried() -> None:
    endpoint = Endpoint(Answer(403, "Forbidden"))
    with pytest.raises(PublishError, match=r"a-1\.0\.tar\.gz failed: the index answered 403;"):
        TwinePublisher("http://x/", None, endpoint, sleep=lambda _: None).upload([SDIST])
    assert len(endpoint.calls) == 1
    # The index's own words, when it says more than the status's name.
    said = Endpoint(Answer(400, "Invalid version: 'x'"))
    with pytest.raises(PublishError, match=r"answered 400 \(Invalid version: 'x'\); fix"):
        TwinePublisher("http://x/", None, said, sleep=lambda _: None).upload([SDIST])


def test_gives_up_after_the_last_attempt() -> None:
    endpoint = Endpoint(*[NetworkError("ConnectionError")] * 3)
    with pytest.raises(PublishError, match=r"no answer from http://x/ \(ConnectionError\) after"
                       " 3 attempts"):  # fmt: skip
        TwinePublisher("http://x/", None, endpoint, attempts=3, sleep=lambda _: None).upload(
            [SDIST])
    assert len(endpoint.calls) == 3


def test_in_order_and_a_retry_starts_at_the_failed_file() -> None:
    # The wheel's upload failed after the index stored it: the retry finds it there.
    endpoint = Endpoint(Answer(200), Answer(502, "Bad Gateway"),
                        Answer(400, "File already exists"))  # fmt: skip
    TwinePublisher("http://x/", None, endpoint, sleep=lambda _: None).upload([SDIST, WHEEL])
    assert [name for name, _ in endpoint.calls] == [SDIST.name, WHEEL.name, WHEEL.name]
    # On a first attempt "already exists" is a refusal: publish decided to upload the file.
    refused = Endpoint(Answer(200), Answer(400, "Bad Request", "File already exists"))
    with pytest.raises(PublishError, match=r"uploading a-1\.0-py3-none-any\.whl failed: .* 400"):
        TwinePublisher("http://x/", None, refused, sleep=lambda _: None).upload([SDIST, WHEEL])


def test_a_redirect_is_refused_with_where_it_points() -> None:
    endpoint = Endpoint(Answer(301, "Moved", location="https://other.example/legacy/"))
    with pytest.raises(PublishError, match=r"redirected it \(301\) to https://other\.example/legacy/"):
        TwinePublisher("http://x/", None, endpoint, sleep=lambda _: None).upload([SDIST])
    assert len(endpoint.calls) == 1


def test_a_file_twine_refuses_is_named(tmp_path: Path) -> None:
    from pubkit.releasing.adapters.publisher import post_file

    broken = tmp_path / "a-1.0-py3-none-any.whl"
    broken.write_bytes(b"not a zip")
    # twine reads the file before anything is sent: no server is needed to refuse it.
    with pytest.raises(PublishError, match=r"a-1\.0-py3-none-any\.whl cannot be uploaded"):
        post_file("http://127.0.0.1:9/", None, broken)
    empty = tmp_path / "b-1.0-py3-none-any.whl"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("b/__init__.py", "")
    with pytest.raises(PublishError, match=r"b-1\.0-py3-none-any\.whl cannot be uploaded"):
        post_file("http://127.0.0.1:9/", None, empty)
