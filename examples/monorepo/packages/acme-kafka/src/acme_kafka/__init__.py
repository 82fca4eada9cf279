"""Kafka helpers for Acme's services: event envelopes, JSON serde, a batching producer."""

from importlib.metadata import version

from acme_kafka.envelope import (
    DeserializationError,
    Envelope,
    Message,
    SchemaVersionError,
    deserialize,
    serialize,
)
from acme_kafka.producer import (
    BatchingProducer,
    DeliveryError,
    KafkaSettings,
    Producer,
    create_producer,
    is_retriable,
    producer_config,
)

__version__ = version("acme-kafka")

__all__ = [
    "BatchingProducer",
    "DeliveryError",
    "DeserializationError",
    "Envelope",
    "KafkaSettings",
    "Message",
    "Producer",
    "SchemaVersionError",
    "__version__",
    "create_producer",
    "deserialize",
    "is_retriable",
    "producer_config",
    "serialize",
]
