from __future__ import annotations

import pytest

from pubkit.errors import ConfigurationError
from pubkit.releasing.core.publishing import decide_uploads, upload_url_for


def test_decide_uploads() -> None:
    local = {
        "acme_core-1.0.tar.gz": "a" * 64,
        "acme_core-1.0-py3-none-any.whl": "b" * 64,
        "acme_core-1.0-py3-none-manylinux1_x86_64.whl": "c" * 64,
    }
    remote = {
        "acme_core-1.0.tar.gz": "a" * 64,  # the same bytes: skip
        "Acme_Core-1.0-py3-none-any.whl": "f" * 64,  # the same file, other bytes: conflict
    }
    decision = decide_uploads(local, remote)
    assert decision.upload == ("acme_core-1.0-py3-none-manylinux1_x86_64.whl",)
    assert decision.already_there == ("acme_core-1.0.tar.gz",)
    assert decision.conflicts == ("acme_core-1.0-py3-none-any.whl",)


@pytest.mark.parametrize(
    ("index", "upload"),
    [
        ("http://127.0.0.1:8080/simple/", "http://127.0.0.1:8080/"),
        ("https://pypi.internal/simple", "https://pypi.internal/"),
        ("https://host/pypi/simple/?x=1", "https://host/pypi/"),
    ],
)
def test_upload_url_for(index: str, upload: str) -> None:
    assert upload_url_for(index) == upload


def test_upload_url_unknown() -> None:
    with pytest.raises(ConfigurationError, match="set PUBKIT_UPLOAD_URL"):
        upload_url_for("https://host/repository/pypi-internal/")
