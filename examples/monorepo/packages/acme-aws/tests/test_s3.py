import json
from collections.abc import Iterator

import boto3
import pytest
from acme_aws import AwsSettings, ObjectNotFoundError, S3JsonStore
from acme_core import AcmeError, ConfigError, load_settings
from botocore.client import BaseClient
from moto import mock_aws

BUCKET = "acme-state"
REGION = "eu-west-1"


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever the developer's machine has configured, the tests never see a real account.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)


@pytest.fixture
def s3() -> Iterator[BaseClient]:
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield client


@pytest.fixture
def store(s3: BaseClient) -> S3JsonStore:
    return S3JsonStore(s3, BUCKET, prefix="orders/")


def test_documents_round_trip(store: S3JsonStore) -> None:
    document = {"id": 42, "items": [{"sku": "CAFÉ-1", "qty": 2}], "paid": True, "note": None}

    store.put("42.json", document)

    assert store.get("42.json") == document


def test_documents_are_stored_as_json_under_the_prefix(store: S3JsonStore, s3: BaseClient) -> None:
    store.put("42.json", {"total": 9.5})

    stored = s3.get_object(Bucket=BUCKET, Key="orders/42.json")
    assert stored["ContentType"] == "application/json"
    assert json.loads(stored["Body"].read()) == {"total": 9.5}


def test_a_missing_document_is_an_acme_error(store: S3JsonStore) -> None:
    with pytest.raises(ObjectNotFoundError, match=r"s3://acme-state/orders/7.json does not exist"):
        store.get("7.json")

    assert issubclass(ObjectNotFoundError, AcmeError)


def test_delete_is_idempotent(store: S3JsonStore) -> None:
    store.put("42.json", {})

    store.delete("42.json")
    store.delete("42.json")

    with pytest.raises(ObjectNotFoundError):
        store.get("42.json")


def test_keys_are_relative_and_stay_inside_the_prefix(store: S3JsonStore, s3: BaseClient) -> None:
    s3.put_object(Bucket=BUCKET, Key="invoices/1.json", Body=b"{}")
    for key in ("2024/1.json", "2024/2.json", "2025/1.json"):
        store.put(key, {})

    assert sorted(store.keys()) == ["2024/1.json", "2024/2.json", "2025/1.json"]
    assert list(store.keys("2025/")) == ["2025/1.json"]


def test_a_value_json_cannot_encode_writes_nothing(store: S3JsonStore) -> None:
    with pytest.raises(TypeError):
        store.put("bad.json", {"when": object()})

    assert list(store.keys()) == []


def test_from_settings_uses_the_acme_environment(
    s3: BaseClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_S3_BUCKET", BUCKET)
    monkeypatch.setenv("ACME_S3_PREFIX", "checkpoints")
    monkeypatch.setenv("ACME_AWS_REGION", REGION)
    monkeypatch.setenv("ACME_RETRY_ATTEMPTS", "5")

    store = S3JsonStore.from_settings(load_settings(AwsSettings))
    store.put("consumer-a", {"offset": 1200})

    assert store.client.meta.region_name == REGION
    assert store.client.meta.config.retries == {"total_max_attempts": 5, "mode": "standard"}
    assert s3.get_object(Bucket=BUCKET, Key="checkpoints/consumer-a")["ContentLength"] > 0


def test_the_bucket_is_a_required_setting() -> None:
    with pytest.raises(ConfigError, match="ACME_S3_BUCKET is not set"):
        load_settings(AwsSettings, {"ACME_AWS_REGION": REGION})
