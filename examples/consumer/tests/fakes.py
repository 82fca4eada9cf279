"""Test doubles for the seams the Acme packages offer: no broker, no AWS account, no network."""

from __future__ import annotations

import json
from typing import Any

from acme_kafka import Envelope, Message, deserialize
from acme_kafka.producer import DeliveryCallback


class FakeBroker:
    """An in-memory stand-in for ``confluent_kafka.Producer``; refuses the first ``rejected``."""

    def __init__(self, *, rejected: int = 0) -> None:
        self.rejected = rejected
        self.queued: list[tuple[str, Message, DeliveryCallback | None]] = []
        self.delivered: dict[str, list[Message]] = {}

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        headers: list[tuple[str, bytes]] | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        message = Message(value or b"", key, tuple(headers or ()))
        self.queued.append((topic, message, on_delivery))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        for topic, message, on_delivery in self.queued:
            if self.rejected:
                self.rejected -= 1
                error: Any = "Broker: Message size too large"
            else:
                self.delivered.setdefault(topic, []).append(message)
                error = None
            if on_delivery is not None:
                on_delivery(error, message)
        self.queued.clear()
        return 0

    def events(self, topic: str) -> list[Envelope]:
        """The envelopes delivered to ``topic``, read back as a consumer would."""
        return [deserialize(m.value, m.headers) for m in self.delivered.get(topic, [])]

    def keys(self, topic: str) -> list[str]:
        return [m.key.decode() for m in self.delivered.get(topic, []) if m.key is not None]


class JsonBody:
    """Equal to the bytes of a JSON document equal to ``expected`` (for Stubber's params)."""

    def __init__(self, expected: Any) -> None:
        self.expected = expected

    def __eq__(self, other: object) -> bool:
        return isinstance(other, bytes) and json.loads(other) == self.expected

    def __repr__(self) -> str:
        return f"JsonBody({self.expected!r})"
