"""What the upstream client's errors show of a URL: they reach readers (a 502's one line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pubkit.errors import UpstreamError
from pubkit.server.upstream.client import UpstreamClient, shown
from tests.upstream_support import static_index


def test_a_signed_download_url_is_shown_without_its_signature(tmp_path: Path) -> None:
    client = UpstreamClient(5.0)
    with static_index() as index:
        url = (f"http://127.0.0.1:{index.port}/files/gone-1.0.tar.gz"
               "?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=0123456789abcdef")  # fmt: skip
        with pytest.raises(UpstreamError) as raised:
            client.download(url, tmp_path / "gone", 1 << 20, f"http://127.0.0.1:{index.port}/")
    client.close()
    message = raised.value.message
    assert "answered 404" in message and "gone-1.0.tar.gz?…" in message, message
    assert "AKIAEXAMPLE" not in message and "0123456789abcdef" not in message


def test_credentials_and_queries_are_left_out() -> None:
    assert shown("https://user:pw@host/simple/?token=x") == "https://user:***@host/simple/?…"
    assert shown("https://TOKEN@host/simple/") == "https://***@host/simple/"
    assert shown("https://host/simple/a/") == "https://host/simple/a/"
