import json
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from acme_aws import S3JsonStore
from acme_catalog_worker.cli import main
from acme_catalog_worker.settings import summary_store
from acme_kafka import deserialize


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    path = tmp_path / "feed.jsonl"
    path.write_text(
        '{"id": "a1", "title": "Linen <em>apron</em>", "description": "Cotton&amp;linen"}\n'
        '{"id": "a2", "title": "---"}\n',
        encoding="utf-8",
    )
    return path


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_a_dry_run_writes_the_records_to_stdout(
    feed: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_KAFKA_TOPIC_PREFIX", "staging.")

    assert main([str(feed), "--dry-run", "--run-id", "r1"]) == 0

    out, err = capsys.readouterr()
    (record,) = json_lines(out)
    assert record["topic"] == "staging.catalog.listings"
    assert record["key"] == "a1"
    headers = [(name, value.encode()) for name, value in record["headers"].items()]
    envelope = deserialize(json.dumps(record["value"]).encode(), headers)
    assert envelope.event_type == "listing.cleaned"
    assert envelope.payload == {
        "id": "a1", "title": "Linen apron", "slug": "linen-apron", "description": "Cotton&linen"
    }  # fmt: skip
    # Logs are JSON lines on stderr (acme-core's logging), apart from the records.
    logs = {entry["message"]: entry for entry in json_lines(err)}
    assert logs["listing rejected"]["line"] == 2
    assert logs["run finished"]["published"] == 1
    assert logs["run finished"]["service"] == "acme-catalog-worker"


def test_the_feed_may_come_on_stdin(
    feed: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", feed.open(encoding="utf-8"))

    assert main(["--dry-run"]) == 0

    assert [record["key"] for record in json_lines(capsys.readouterr().out)] == ["a1"]


def test_a_feed_of_which_nothing_is_published_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = tmp_path / "broken.jsonl"
    feed.write_text("id,title\n1,mug\n")

    assert main([str(feed), "--dry-run"]) == 1

    assert capsys.readouterr().out == ""


def test_producing_to_kafka_needs_the_kafka_extra(
    feed: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if confluent-kafka were not installed, whether or not it is.
    monkeypatch.setitem(sys.modules, "confluent_kafka", None)

    assert main([str(feed)]) == 2

    assert "error: confluent-kafka is not installed" in capsys.readouterr().err


def test_a_bad_setting_is_a_configuration_error(
    feed: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_KAFKA_BATCH_SIZE", "many")

    assert main([str(feed), "--dry-run"]) == 2

    assert capsys.readouterr().err == "error: ACME_KAFKA_BATCH_SIZE='many' is not an integer\n"


def test_a_missing_feed_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing.jsonl"), "--dry-run"]) == 1

    assert "No such file or directory" in capsys.readouterr().err


def test_version_names_the_acme_packages_it_runs_on(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0

    expected = ", ".join(
        f"{name} {version(name)}" for name in ("acme-core", "acme-text", "acme-kafka", "acme-aws")
    )
    assert capsys.readouterr().out == (
        f"acme-catalog-worker {version('acme-catalog-worker')} ({expected})\n"
    )


def test_summaries_go_to_the_configured_bucket() -> None:
    environ = {
        "ACME_S3_BUCKET": "acme-runs",
        "ACME_S3_PREFIX": "catalog/",
        "ACME_AWS_REGION": "eu-west-1",
    }

    store = summary_store(environ)

    assert isinstance(store, S3JsonStore)
    assert (store.bucket, store.prefix) == ("acme-runs", "catalog/")
    assert store.client.meta.region_name == "eu-west-1"
    assert summary_store({}) is None
