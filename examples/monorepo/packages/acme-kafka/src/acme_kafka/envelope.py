"""The event envelope every Acme topic carries, and its JSON wire format.

The record value is a JSON object::

    {"id": "…", "type": "order.created", "schema_version": 2,
     "occurred_at": "2024-05-01T12:00:00+00:00", "payload": {…}}

The type and schema version are repeated in Kafka headers so that consumers can route or
skip records without parsing them; the JSON body is the source of truth.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from acme_core import AcmeError

CONTENT_TYPE = "application/json"
_RESERVED_HEADERS = ("content-type", "event-type", "schema-version")


class DeserializationError(AcmeError):
    """A record that is not an envelope: bad JSON or missing fields."""


class SchemaVersionError(AcmeError):
    """An envelope whose schema version this consumer does not support."""


@dataclass(frozen=True)
class Envelope:
    """One event: its type, payload and schema version, an id and when it happened."""

    event_type: str
    payload: Mapping[str, Any]
    schema_version: int = 1
    headers: Mapping[str, str] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    occurred_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


@dataclass(frozen=True)
class Message:
    """A Kafka record ready to produce."""

    value: bytes
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


def serialize(envelope: Envelope, key: str | None = None) -> Message:
    """The Kafka record of ``envelope``; ``key`` (e.g. an order id) picks the partition."""
    body = {
        "id": envelope.id,
        "type": envelope.event_type,
        "schema_version": envelope.schema_version,
        "occurred_at": envelope.occurred_at.isoformat(),
        "payload": envelope.payload,
    }
    headers = [
        ("content-type", CONTENT_TYPE.encode()),
        ("event-type", envelope.event_type.encode()),
        ("schema-version", str(envelope.schema_version).encode()),
        *((name, value.encode()) for name, value in envelope.headers.items()),
    ]
    return Message(
        value=json.dumps(body, separators=(",", ":")).encode(),
        key=key.encode() if key is not None else None,
        headers=tuple(headers),
    )


def deserialize(
    value: bytes,
    headers: Iterable[tuple[str, bytes]] = (),
    *,
    supported_versions: Collection[int] = (1,),
) -> Envelope:
    """The envelope in a record's value and headers.

    Raises :class:`SchemaVersionError` for a version outside ``supported_versions`` and
    :class:`DeserializationError` for anything that is not an envelope.
    """
    try:
        body = json.loads(value)
        envelope = Envelope(
            event_type=body["type"],
            payload=body["payload"],
            schema_version=int(body["schema_version"]),
            id=body["id"],
            occurred_at=datetime.fromisoformat(body["occurred_at"]),
            headers={k: v.decode() for k, v in headers if k not in _RESERVED_HEADERS},
        )
    except (ValueError, KeyError, TypeError) as error:
        # json.JSONDecodeError and UnicodeDecodeError are ValueErrors.
        raise DeserializationError(f"not an envelope: {error!r}") from error
    if envelope.schema_version not in supported_versions:
        raise SchemaVersionError(
            f"{envelope.event_type} schema version {envelope.schema_version} is not supported;"
            f" this consumer reads versions {sorted(supported_versions)}"
        )
    return envelope
