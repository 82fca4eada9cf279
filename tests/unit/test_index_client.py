"""The index URL is forgiving: given a server's root, the release tool finds the simple API
under it, or says exactly what to set; every message shows the whole URL, port included."""

from __future__ import annotations

import pytest
import responses

from pubkit.errors import ConfigurationError
from pubkit.releasing.adapters.index_client import JSON_V1, IndexClient
from pubkit.releasing.core.publishing import upload_url_for

ROOT = "http://index.test:8080/"
PROJECT_PAGE = {"meta": {"api-version": "1.1"}, "name": "acme-core", "versions": ["1.0"],
                "files": [{"filename": "acme_core-1.0.tar.gz", "url": "x.tar.gz",
                           "hashes": {"sha256": "0" * 64}}]}  # fmt: skip


@responses.activate
def test_the_server_root_leads_to_its_simple_api() -> None:
    responses.head(ROOT, status=200, content_type="text/html")  # a home page
    responses.head(ROOT + "simple/", status=200, content_type=JSON_V1)
    responses.get(ROOT + "simple/acme-core/", json=PROJECT_PAGE, content_type=JSON_V1)
    client = IndexClient(ROOT)
    assert client.simple_url() == ROOT + "simple/"
    assert [str(v) for v in client.project("acme-core").versions] == ["1.0"]
    assert upload_url_for(client.simple_url()) == ROOT


@responses.activate
def test_a_simple_index_is_used_as_it_is_and_asked_once() -> None:
    responses.head(ROOT + "pypi/simple/", status=200, content_type=JSON_V1)
    responses.get(ROOT + "pypi/simple/acme-core/", json=PROJECT_PAGE, content_type=JSON_V1)
    client = IndexClient(ROOT + "pypi/simple")
    client.project("acme-core")
    client.project("acme-core")
    assert [call.request.method for call in responses.calls] == ["HEAD", "GET", "GET"]


@responses.activate
def test_a_server_refusing_head_is_asked_with_get() -> None:
    responses.head(ROOT + "simple/", status=405)
    responses.get(ROOT + "simple/", status=200, content_type=JSON_V1, json={"projects": []})
    assert IndexClient(ROOT + "simple/").simple_url() == ROOT + "simple/"


@responses.activate
def test_no_simple_api_says_what_to_set() -> None:
    responses.head(ROOT + "packages/", status=404)
    responses.head(ROOT + "packages/simple/", status=404)
    with pytest.raises(ConfigurationError) as raised:
        IndexClient(ROOT + "packages/").project("acme-core")
    message = str(raised.value)
    assert f"{ROOT}packages/ is not a simple index" in message
    assert f"{ROOT}packages/simple/" in message and "set PUBKIT_INDEX_URL" in message


def test_the_upload_url_message_keeps_the_port_and_hides_the_password() -> None:
    with pytest.raises(ConfigurationError) as raised:
        upload_url_for("http://ci:s3cret@index.test:8080/pypi/")
    assert "http://ci:***@index.test:8080/pypi/" in str(raised.value)
    assert "s3cret" not in str(raised.value)
