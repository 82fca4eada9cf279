from __future__ import annotations

from pathlib import Path

import pytest

from pubkit.releasing.adapters.index_client import Credentials
from pubkit.releasing.adapters.process import CommandResult, FakeRunner
from pubkit.releasing.adapters.publisher import PublishError, TwinePublisher


def answers(*outcomes: tuple[int, str]) -> FakeRunner:
    queue = list(outcomes)

    def respond(args: tuple[str, ...]) -> CommandResult:
        code, output = queue.pop(0)
        return CommandResult(args, code, "", output, 0.1)

    return FakeRunner([respond])


def test_transient_failures_are_retried_with_backoff() -> None:
    runner = answers((1, "HTTPError: 503 Service Unavailable from http://x/"), (0, ""))
    slept: list[float] = []
    TwinePublisher("http://x/", Credentials("u", "secret"), runner, sleep=slept.append
                   ).upload([Path("a-1.0.tar.gz")])
    assert len(runner.calls) == 2 and slept == [2.0]
    assert "secret" not in " ".join(runner.calls[0])  # credentials go in the environment


def test_refusals_are_not_retried() -> None:
    runner = answers((1, "HTTPError: 403 Forbidden from http://x/"))
    with pytest.raises(PublishError, match=r"a-1\.0\.tar\.gz failed: the index answered 403"):
        TwinePublisher("http://x/", None, runner, sleep=lambda _: None).upload(
            [Path("a-1.0.tar.gz")])
    assert len(runner.calls) == 1


def test_gives_up_after_the_last_attempt() -> None:
    runner = answers(*[(1, "requests.exceptions.ConnectionError: refused")] * 3)
    with pytest.raises(PublishError, match="after 3 attempts"):
        TwinePublisher("http://x/", None, runner, attempts=3, sleep=lambda _: None).upload(
            [Path("a-1.0.tar.gz")])


def test_one_process_per_package_and_a_retry_skips_what_went_up() -> None:
    runner = answers((1, "Uploading a-1.0.tar.gz\nUploading a-1.0-py3-none-any.whl\n"
                      "HTTPError: 502 Bad Gateway from http://x/"), (0, ""))  # fmt: skip
    files = [Path("a-1.0.tar.gz"), Path("a-1.0-py3-none-any.whl")]
    TwinePublisher("http://x/", None, runner, sleep=lambda _: None).upload(files)
    first, second = runner.calls
    assert first[-2:] == ("a-1.0.tar.gz", "a-1.0-py3-none-any.whl")  # the sdist first
    assert "--skip-existing" not in first and "--skip-existing" in second
    refused = answers((1, "Uploading a-1.0.tar.gz\nUploading a-1.0-py3-none-any.whl\n"
                       "HTTPError: 400 Bad Request from http://x/"))  # fmt: skip
    with pytest.raises(PublishError, match=r"uploading a-1\.0-py3-none-any\.whl failed: .* 400"):
        TwinePublisher("http://x/", None, refused, sleep=lambda _: None).upload(files)
