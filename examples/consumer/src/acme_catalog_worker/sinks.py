"""Where events go: a real Kafka producer, or JSON lines on a stream for ``--dry-run``."""

from __future__ import annotations

import json
from typing import Any, TextIO

from acme_kafka.producer import DeliveryCallback


class JsonLinesProducer:
    """A producer (acme-kafka's ``Producer`` protocol) that writes each record as a JSON line.

    A line holds the topic, the key, the headers and the envelope::

        {"topic": "catalog.listings", "key": "42", "headers": {...}, "value": {...}}

    Records count as delivered once :meth:`flush` has flushed the stream.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._unacknowledged: list[tuple[DeliveryCallback, dict[str, Any]]] = []

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        headers: list[tuple[str, bytes]] | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        record = {
            "topic": topic,
            "key": key.decode() if key is not None else None,
            "headers": {name: raw.decode() for name, raw in headers or []},
            "value": json.loads(value) if value is not None else None,
        }
        self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        if on_delivery is not None:
            self._unacknowledged.append((on_delivery, record))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        self.stream.flush()
        acknowledged, self._unacknowledged = self._unacknowledged, []
        for callback, record in acknowledged:
            callback(None, record)
        return 0
