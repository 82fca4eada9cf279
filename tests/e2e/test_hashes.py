"""``pip download --require-hashes`` against the index: the right hash passes, a wrong one fails."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pubkit.testing import LiveServer, make_wheel
from tests.e2e.support import LogWindow, file_path, output, pip, sha256_of, twine_upload

pytestmark = pytest.mark.e2e
SERVER_BACKENDS = ("local", "s3-postgres")  # the server core's suite runs on both


@pytest.fixture(scope="module")
def hashed_wheel(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheel = make_wheel(tmp_path_factory.mktemp("dists"), "e2e-hashed", "1.0")
    uploaded = twine_upload(server, [wheel], "alice")
    assert uploaded.returncode == 0, output(uploaded)
    return wheel


def _download(server: LiveServer, requirement: str, tmp_path: Path) -> tuple[Path, str]:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(requirement + "\n")
    target = tmp_path / "downloaded"
    result = pip(
        "download", "--index-url", server.simple_url, "--require-hashes",
        "-r", requirements, "-d", target,
    )  # fmt: skip
    return target, output(result) if result.returncode else ""


def test_require_hashes_with_the_right_hash(
    server: LiveServer, hashed_wheel: Path, tmp_path: Path
) -> None:
    digest = sha256_of(hashed_wheel)
    window = LogWindow(server)
    target, failure = _download(server, f"e2e-hashed==1.0 --hash=sha256:{digest}", tmp_path)
    assert not failure, failure
    (downloaded,) = target.iterdir()
    assert downloaded.name == hashed_wheel.name
    assert downloaded.read_bytes() == hashed_wheel.read_bytes()
    assert window.statuses("GET", file_path("e2e-hashed", hashed_wheel.name)) == [200], (
        window.describe()
    )


def test_require_hashes_with_a_wrong_hash(
    server: LiveServer, hashed_wheel: Path, tmp_path: Path
) -> None:
    wrong = hashlib.sha256(b"not the wheel").hexdigest()
    target, failure = _download(server, f"e2e-hashed==1.0 --hash=sha256:{wrong}", tmp_path)
    assert failure, "pip accepted a file whose hash is not the required one"
    assert "DO NOT MATCH THE HASHES" in failure, failure
    assert wrong in failure and sha256_of(hashed_wheel) in failure, failure
    assert not target.exists() or not any(target.iterdir())
