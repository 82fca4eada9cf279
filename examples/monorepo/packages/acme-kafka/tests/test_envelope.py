import json
from datetime import datetime, timezone

import pytest
from acme_kafka import DeserializationError, Envelope, SchemaVersionError, deserialize, serialize

ORDER_CREATED = Envelope(
    "order.created",
    {"order_id": "o-42", "total": "19.90", "items": ["sku-1", "sku-2"]},
    schema_version=2,
    headers={"trace-id": "abc123"},
    occurred_at=datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc),
)


def test_an_envelope_survives_the_round_trip() -> None:
    message = serialize(ORDER_CREATED, key="o-42")

    assert deserialize(message.value, message.headers, supported_versions={1, 2}) == ORDER_CREATED


def test_the_record_carries_key_headers_and_a_json_body() -> None:
    message = serialize(ORDER_CREATED, key="o-42")

    assert message.key == b"o-42"
    assert dict(message.headers) == {
        "content-type": b"application/json",
        "event-type": b"order.created",
        "schema-version": b"2",
        "trace-id": b"abc123",
    }
    body = json.loads(message.value)
    assert body["type"] == "order.created"
    assert body["occurred_at"] == "2024-05-01T12:00:00+00:00"


def test_each_envelope_gets_its_own_id_and_time() -> None:
    first, second = Envelope("ping", {}), Envelope("ping", {})

    assert first.id != second.id
    assert first.occurred_at.tzinfo is not None


def test_an_unsupported_schema_version_is_refused() -> None:
    message = serialize(ORDER_CREATED)

    with pytest.raises(SchemaVersionError, match=r"version 2 is not supported.*\[1\]"):
        deserialize(message.value)


@pytest.mark.parametrize(
    "value",
    [b"not json", b'{"type": "order.created"}', b"\xff\xfe", b'["a", "list"]'],
    ids=["not-json", "missing-fields", "not-utf8", "not-an-object"],
)
def test_a_record_that_is_not_an_envelope(value: bytes) -> None:
    with pytest.raises(DeserializationError, match="not an envelope"):
        deserialize(value)
