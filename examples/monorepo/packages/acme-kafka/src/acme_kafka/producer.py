"""A batching producer, written against a small Protocol rather than a Kafka client.

:class:`Producer` is the part of ``confluent_kafka.Producer`` this module uses, so a real
producer fits it as is, and tests pass an in-memory fake: no broker, no client library.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

from acme_core import AcmeError, ConfigError, RetryPolicy, Settings, is_transient

from acme_kafka.envelope import Envelope, Message, serialize

DeliveryCallback = Callable[[Any, Any], None]  # (error or None, message)


class Producer(Protocol):
    """What :class:`BatchingProducer` needs of a Kafka client."""

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        headers: list[tuple[str, bytes]] | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None: ...

    def poll(self, timeout: float) -> int: ...

    def flush(self, timeout: float) -> int: ...


class DeliveryError(AcmeError):
    """Messages the broker refused (``errors``) or did not acknowledge in time."""

    def __init__(self, message: str, errors: list[Any], unacknowledged: int) -> None:
        super().__init__(message)
        self.errors = errors
        self.unacknowledged = unacknowledged


def is_retriable(error: BaseException) -> bool:
    """Whether producing again may succeed: the client's local queue was full (BufferError),
    or a transient error."""
    return isinstance(error, BufferError) or is_transient(error)


@dataclass(frozen=True, kw_only=True)
class KafkaSettings(Settings):
    """``ACME_KAFKA_BOOTSTRAP_SERVERS``, ``ACME_KAFKA_TOPIC_PREFIX``, ..."""

    kafka_bootstrap_servers: str = "localhost:9092"
    kafka_topic_prefix: str = ""  # e.g. "staging." to share a cluster between environments
    kafka_batch_size: int = 100


def producer_config(settings: KafkaSettings) -> dict[str, str | int | bool]:
    """librdkafka settings for ``confluent_kafka.Producer``: durable and idempotent."""
    return {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "client.id": settings.service,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 20,
    }


class BatchingProducer:
    """Buffers envelopes and hands them to a producer ``batch_size`` at a time.

    Use it as a context manager so that the last, partial batch is sent on exit. When the
    client's queue is full, producing is retried under ``retry`` while the client delivers
    (``poll``); a message is dropped from the buffer only once the client has taken it, so a
    failed :meth:`flush` can be called again without duplicates.
    """

    def __init__(
        self,
        producer: Producer,
        topic: str,
        *,
        batch_size: int = 100,
        retry: RetryPolicy | None = None,
        flush_timeout: float = 30.0,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, not {batch_size}")
        self.producer = producer
        self.topic = topic
        self.batch_size = batch_size
        self.retry = retry or RetryPolicy(attempts=5, base_delay=0.05, max_delay=2.0)
        self.flush_timeout = flush_timeout
        self._pending: deque[Message] = deque()
        self._failed: list[Any] = []

    @property
    def pending(self) -> int:
        """How many messages wait in the buffer."""
        return len(self._pending)

    def send(self, envelope: Envelope, key: str | None = None) -> None:
        self._pending.append(serialize(envelope, key))
        if len(self._pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Produce every buffered message and wait until the broker acknowledges them.

        When it returns, the messages are durable: a consumer may commit its offsets.
        """
        while self._pending:
            produce = functools.partial(self._produce, self._pending[0])
            self.retry.call(produce, retry_if=is_retriable, sleep=self.producer.poll)
            self._pending.popleft()
        unacknowledged = self.producer.flush(self.flush_timeout)
        failed, self._failed = self._failed, []
        if failed or unacknowledged:
            raise DeliveryError(
                f"{self.topic}: {len(failed)} messages failed, {unacknowledged} unacknowledged"
                f" after {self.flush_timeout}s",
                failed,
                unacknowledged,
            )

    def _produce(self, message: Message) -> None:
        self.producer.produce(
            self.topic,
            message.value,
            message.key,
            headers=list(message.headers),
            on_delivery=self._on_delivery,
        )

    def _on_delivery(self, error: Any, message: Any) -> None:
        if error is not None:
            self._failed.append(error)

    def __enter__(self) -> BatchingProducer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # After an error, what is buffered stays unsent rather than hiding that error.
        if exc_type is None:
            self.flush()


def create_producer(settings: KafkaSettings, topic: str) -> BatchingProducer:
    """A batching producer on a real ``confluent_kafka.Producer`` (the ``confluent`` extra)."""
    try:
        from confluent_kafka import Producer as KafkaProducer
    except ImportError:
        raise ConfigError(
            "confluent-kafka is not installed; pip install 'acme-kafka[confluent]'"
        ) from None
    return BatchingProducer(
        KafkaProducer(producer_config(settings)),
        settings.kafka_topic_prefix + topic,
        batch_size=settings.kafka_batch_size,
        retry=settings.retry_policy,
    )
