import sys
from typing import Any

import pytest
from acme_core import ConfigError, RetryError, RetryPolicy, load_settings
from acme_kafka import (
    BatchingProducer,
    DeliveryError,
    Envelope,
    KafkaSettings,
    create_producer,
    deserialize,
    producer_config,
)
from acme_kafka.producer import DeliveryCallback


class FakeProducer:
    """An in-memory stand-in for confluent_kafka.Producer."""

    def __init__(self, *, queue_full: int = 0, rejected: int = 0) -> None:
        self.queue_full = queue_full  # how many produce() calls raise BufferError
        self.rejected = rejected  # how many deliveries the "broker" fails
        self.queued: list[tuple[DeliveryCallback, dict[str, Any]]] = []
        self.delivered: list[dict[str, Any]] = []
        self.polls: list[float] = []

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        headers: list[tuple[str, bytes]] | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        if self.queue_full:
            self.queue_full -= 1
            raise BufferError("Local: Queue full")
        assert on_delivery is not None
        record = {"topic": topic, "value": value, "key": key, "headers": headers}
        self.queued.append((on_delivery, record))

    def poll(self, timeout: float) -> int:
        self.polls.append(timeout)
        return 0

    def flush(self, timeout: float) -> int:
        for callback, record in self.queued:
            if self.rejected:
                self.rejected -= 1
                callback("Broker: Message size too large", record)
            else:
                self.delivered.append(record)
                callback(None, record)
        self.queued.clear()
        return 0


def event(number: int) -> Envelope:
    return Envelope("order.created", {"order_id": number})


def test_messages_are_held_until_a_batch_is_full() -> None:
    fake = FakeProducer()
    producer = BatchingProducer(fake, "orders", batch_size=3)

    producer.send(event(1), key="1")
    producer.send(event(2), key="2")
    assert fake.delivered == []
    assert producer.pending == 2

    producer.send(event(3), key="3")
    assert [r["key"] for r in fake.delivered] == [b"1", b"2", b"3"]
    assert producer.pending == 0


def test_the_last_partial_batch_is_sent_on_exit() -> None:
    fake = FakeProducer()

    with BatchingProducer(fake, "orders", batch_size=100) as producer:
        producer.send(event(1))

    (record,) = fake.delivered
    assert record["topic"] == "orders"
    assert deserialize(record["value"], record["headers"]).payload == {"order_id": 1}


def test_a_full_queue_is_retried_while_the_client_delivers() -> None:
    fake = FakeProducer(queue_full=2)
    retry = RetryPolicy(attempts=3, base_delay=0.1, jitter=0)

    with BatchingProducer(fake, "orders", retry=retry) as producer:
        producer.send(event(1))

    assert len(fake.delivered) == 1
    assert fake.polls == [0.1, 0.2]  # backoff spent serving delivery reports, not sleeping


def test_a_failed_flush_keeps_the_unsent_messages_for_the_next_one() -> None:
    fake = FakeProducer(queue_full=5)
    producer = BatchingProducer(fake, "orders", retry=RetryPolicy(attempts=2, jitter=0))
    producer.send(event(1))
    producer.send(event(2))

    with pytest.raises(RetryError):
        producer.flush()
    assert producer.pending == 2

    fake.queue_full = 0
    producer.flush()
    assert [deserialize(r["value"]).payload for r in fake.delivered] == [
        {"order_id": 1},
        {"order_id": 2},
    ]


def test_rejected_deliveries_are_reported() -> None:
    fake = FakeProducer(rejected=1)
    producer = BatchingProducer(fake, "orders")
    producer.send(event(1))
    producer.send(event(2))

    with pytest.raises(DeliveryError, match="orders: 1 messages failed") as caught:
        producer.flush()

    assert caught.value.errors == ["Broker: Message size too large"]
    assert len(fake.delivered) == 1


def test_settings_configure_the_client() -> None:
    settings = load_settings(
        KafkaSettings,
        {"ACME_SERVICE": "checkout", "ACME_KAFKA_BOOTSTRAP_SERVERS": "kafka-1:9092,kafka-2:9092"},
    )

    config = producer_config(settings)

    assert config["bootstrap.servers"] == "kafka-1:9092,kafka-2:9092"
    assert config["client.id"] == "checkout"
    assert config["enable.idempotence"] is True


def test_a_real_producer_needs_the_confluent_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "confluent_kafka", None)  # as if it were not installed

    with pytest.raises(ConfigError, match=r"pip install 'acme-kafka\[confluent\]'"):
        create_producer(KafkaSettings(), "orders")
