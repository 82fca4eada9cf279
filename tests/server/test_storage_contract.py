"""The storage contract, held by every backend: local directory, memory, and S3 (through
boto3 against moto's S3 in server mode, a real HTTP endpoint)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from pubkit.errors import ConfigurationError, NotFoundError, StorageError
from pubkit.server.storage import LocalStorage, MemoryStorage, Storage, open_storage
from pubkit.server.storage.s3 import PART_SIZE, S3Storage

Make = Callable[[], Storage]


@pytest.fixture(params=["local", "memory", "s3"])
def make_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Make:
    if request.param == "local":
        return lambda: LocalStorage(tmp_path / "files")
    if request.param == "memory":
        memory = MemoryStorage()
        return lambda: memory
    bucket = request.getfixturevalue("s3_bucket")
    return lambda: open_storage(f"s3://{bucket}/pubkit?addressing=path")


def source(tmp_path: Path, data: bytes, name: str = "upload") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_put_new_stores_once_and_reads_back(make_storage: Make, tmp_path: Path) -> None:
    storage = make_storage()
    assert storage.put_new("demo/demo-1.0.tar.gz", source(tmp_path, b"first")) is True
    assert storage.put_new("demo/demo-1.0.tar.gz", source(tmp_path, b"second", "b")) is False
    assert storage.read_bytes("demo/demo-1.0.tar.gz") == b"first"
    with storage.open("demo/demo-1.0.tar.gz") as stream:
        assert stream.read() == b"first"
    assert storage.size("demo/demo-1.0.tar.gz") == 5
    assert storage.size("demo/missing") is None
    with pytest.raises(NotFoundError):
        storage.read_bytes("demo/missing")
    with pytest.raises(NotFoundError):
        storage.open("demo/missing")


def test_put_bytes_list_and_delete(make_storage: Make) -> None:
    storage = make_storage()
    storage.put_bytes("a/a-1.0.tar.gz.json", b"{}")
    storage.put_bytes("a/a-1.0.tar.gz.json", b'{"v": 2}')  # replaces
    storage.put_bytes("b/b-1.0.tar.gz", b"bb")
    assert storage.read_bytes("a/a-1.0.tar.gz.json") == b'{"v": 2}'
    assert {(o.key, o.size) for o in storage.list()} == {
        ("a/a-1.0.tar.gz.json", 8), ("b/b-1.0.tar.gz", 2)}
    assert [o.key for o in storage.list("b/")] == ["b/b-1.0.tar.gz"]
    storage.delete("b/b-1.0.tar.gz")
    storage.delete("b/b-1.0.tar.gz")  # missing: fine
    assert [o.key for o in storage.list()] == ["a/a-1.0.tar.gz.json"]
    storage.check()


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a/../../b", "", "a//b", "a/./b"])
def test_unsafe_keys_are_refused(make_storage: Make, key: str) -> None:
    with pytest.raises(StorageError, match="unsafe storage key"):
        make_storage().put_bytes(key, b"x")


def test_racing_put_new_has_one_winner(make_storage: Make, tmp_path: Path) -> None:
    storage = make_storage()
    sources = [source(tmp_path, f"body {n}".encode(), f"s{n}") for n in range(8)]
    results: list[bool] = []
    lock = threading.Lock()

    def store(path: Path) -> None:
        stored = storage.put_new("race/race-1.0.tar.gz", path)
        with lock:
            results.append(stored)

    threads = [threading.Thread(target=store, args=(path,)) for path in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    assert storage.read_bytes("race/race-1.0.tar.gz") in {p.read_bytes() for p in sources}


def test_replace_overwrites_atomically_and_list_says_when(
    make_storage: Make, tmp_path: Path
) -> None:
    from datetime import datetime, timedelta, timezone

    storage = make_storage()
    storage.replace("demo/demo-1.0.tar.gz", source(tmp_path, b"orphan"))  # absent: created
    storage.replace("demo/demo-1.0.tar.gz", source(tmp_path, b"the committed one", "b"))
    assert storage.read_bytes("demo/demo-1.0.tar.gz") == b"the committed one"
    assert storage.put_new("demo/demo-1.0.tar.gz", source(tmp_path, b"late", "c")) is False
    [listed] = list(storage.list())
    assert (listed.key, listed.size) == ("demo/demo-1.0.tar.gz", 17)
    assert listed.modified is not None
    assert abs(datetime.now(timezone.utc) - listed.modified) < timedelta(minutes=5)


# -- S3 specifics --------------------------------------------------------------------------


def test_large_files_go_up_in_parts_and_leave_no_upload_behind(
    s3_bucket: str, tmp_path: Path
) -> None:
    storage = S3Storage.from_url(f"s3://{s3_bucket}/p?addressing=path")
    data = bytes(range(256)) * (PART_SIZE // 256) + b"tail" * 1000  # just over one part
    big = source(tmp_path, data)
    assert storage.put_new("big/big-1.0.tar.gz", big) is True
    assert storage.put_new("big/big-1.0.tar.gz", big) is False
    with storage.open("big/big-1.0.tar.gz") as stream:
        assert stream.read() == data
    client = boto3.client("s3")
    assert client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    head = client.head_object(Bucket=s3_bucket, Key="p/big/big-1.0.tar.gz")
    assert "-" in head["ETag"]  # a multipart ETag


def test_prefixes_keep_storages_apart(s3_bucket: str) -> None:
    one = S3Storage.from_url(f"s3://{s3_bucket}/one")
    two = S3Storage.from_url(f"s3://{s3_bucket}/two/")
    one.put_bytes("x/x-1.0.tar.gz", b"1")
    assert list(two.list()) == []
    assert [o.key for o in one.list()] == ["x/x-1.0.tar.gz"]


def test_server_side_encryption_is_requested(s3_bucket: str) -> None:
    storage = S3Storage.from_url(f"s3://{s3_bucket}/enc?sse=AES256")
    storage.put_bytes("e/e-1.0.tar.gz", b"secret")
    head = boto3.client("s3").head_object(Bucket=s3_bucket, Key="enc/e/e-1.0.tar.gz")
    assert head["ServerSideEncryption"] == "AES256"


def test_a_missing_bucket_is_named(moto_s3: str) -> None:
    storage = S3Storage.from_url("s3://no-such-bucket-here/p")
    with pytest.raises(StorageError, match="the bucket no-such-bucket-here does not exist"):
        storage.check()
    with pytest.raises(StorageError, match="does not exist"):
        storage.put_bytes("a/a-1.0.tar.gz", b"x")


def test_url_options_are_checked(moto_s3: str) -> None:
    with pytest.raises(ConfigurationError, match="unknown"):
        open_storage("s3://bucket/p?adressing=path")
    with pytest.raises(ConfigurationError, match="use auto, path or virtual"):
        open_storage("s3://bucket/p?addressing=sideways")
    with pytest.raises(ConfigurationError, match="names no bucket"):
        open_storage("s3:///prefix")


def test_an_unreachable_endpoint_is_a_storage_error(
    monkeypatch: pytest.MonkeyPatch, moto_s3: str
) -> None:
    from pubkit.testing import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    storage = S3Storage.from_url("s3://bucket/p?max_attempts=1")
    with pytest.raises(StorageError, match="could not be reached"):
        storage.check()


def test_concurrent_readiness_checks_never_fail_each_other(make_storage: Make) -> None:
    # Workers and replicas probe one storage root at the same moment (a shared probe file
    # once made one worker's /ready answer 503 when another removed it first).
    storage = make_storage()
    failures: list[BaseException] = []

    def probe() -> None:
        for _ in range(25):
            try:
                storage.check()
            except BaseException as error:  # collected: the assertion names it
                failures.append(error)

    threads = [threading.Thread(target=probe) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
