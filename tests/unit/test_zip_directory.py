"""The zip directory is judged from its end records, then counted, before zipfile parses it."""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from pubkit.errors import InvalidDistributionError
from pubkit.server import archives
from pubkit.server.archives import check_zip_directory
from tests.faults.hostile import huge_directory_wheel


def zip_of(count: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for number in range(count):
            archive.writestr(f"m{number}", b"")
    return buffer.getvalue()


def test_an_ordinary_zip_passes_with_its_member_count() -> None:
    assert check_zip_directory(io.BytesIO(zip_of(5))) == 5


def test_a_zip64_record_claiming_millions_is_refused_at_once(tmp_path: Path) -> None:
    wheel = huge_directory_wheel(tmp_path, "demo", "1.0", 3_500_000)
    tracemalloc.start()
    started = time.perf_counter()
    with wheel.open("rb") as file, pytest.raises(InvalidDistributionError) as refused:
        check_zip_directory(file)
    elapsed = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "directory lists 3500000 members; the limit is 50000" in str(refused.value)
    assert peak < 1024 * 1024 and elapsed < 5, (peak, elapsed)


def test_an_end_record_that_lies_about_the_count_is_caught_by_counting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(archives, "MAX_MEMBERS", 100)
    data = bytearray(zip_of(150))
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 3, 3)  # "3 members"
    with pytest.raises(InvalidDistributionError, match="more than 100 members"):
        check_zip_directory(io.BytesIO(bytes(data)))


def test_a_directory_larger_than_the_limit_is_refused_unread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(archives, "MAX_DIRECTORY_SIZE", 1000)
    with pytest.raises(InvalidDistributionError, match=r"central directory is \d+ bytes"):
        check_zip_directory(io.BytesIO(zip_of(100)))


def test_no_end_record_is_not_a_zip() -> None:
    with pytest.raises(InvalidDistributionError, match="no end record"):
        check_zip_directory(io.BytesIO(b"PK\x03\x04" + b"\0" * 100))
