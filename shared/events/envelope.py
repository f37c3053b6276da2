"""CloudEvents 1.0 envelope in structured JSON mode."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# At module level: an import statement inside parse_event cost a rebuild a few per cent per event.
from shared.events.catalogue import definition_for, definition_of_payload

CONTENT_TYPE = "application/cloudevents+json"
SPECVERSION = "1.0"
DATA_CONTENT_TYPE = "application/json"
# The event type as a Kafka header, to filter without parsing the value. Not `ce_type`: a `ce_`-prefixed
# header is what marks a record as *binary* mode in the CloudEvents Kafka binding, and the SDKs' automatic
# readers (Python's `from_kafka`) then ignore the structured value and fail on the record.
TYPE_HEADER = "event-type"


class InvalidEvent(Exception):
    """A message that cannot be read as an event of the catalogue (a poison message)."""


class CloudEvent(BaseModel):
    """One event as written to a topic; ``subject`` is the aggregate id and the Kafka key."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: str = SPECVERSION
    id: str = Field(description="Unique per event (UUID); consumers deduplicate on it.")
    source: str = Field(description="The producing service, e.g. `/registration`.")
    type: str = Field(description="`conference.<service>.<event>.v<N>`.")
    subject: str = Field(description="Aggregate id; also the Kafka message key.")
    time: datetime
    datacontenttype: str = DATA_CONTENT_TYPE
    data: dict[str, Any]
    correlationid: str | None = Field(default=None, description="The HTTP request id that caused it.")

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


def record_headers(event_type: str) -> tuple[tuple[str, bytes], ...]:
    """The Kafka headers of a published event: structured mode's `content-type`, and its type."""
    return (("content-type", CONTENT_TYPE.encode()), (TYPE_HEADER, event_type.encode()))


def new_event(payload: BaseModel, *, subject: str, correlation_id: str | None = None) -> CloudEvent:
    """Wrap a catalogue payload in a fresh envelope."""
    definition = definition_of_payload(type(payload))
    return CloudEvent(
        id=str(uuid.uuid4()),
        source=f"/{definition.service}",
        type=definition.type,
        subject=subject,
        time=datetime.now(UTC),
        data=payload.model_dump(mode="json"),
        correlationid=correlation_id,
    )


def parse_event(raw: bytes) -> tuple[CloudEvent, BaseModel]:
    """Read bytes from a topic into the envelope and its typed payload, or raise InvalidEvent."""
    try:
        envelope = CloudEvent.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidEvent(f"not a CloudEvents envelope: {_first_error(exc)}") from exc
    if envelope.specversion != SPECVERSION:
        raise InvalidEvent(f"unsupported specversion {envelope.specversion!r}")
    definition = definition_for(envelope.type)
    if definition is None:
        raise InvalidEvent(f"unknown event type {envelope.type!r}")
    try:
        payload = definition.model.model_validate(envelope.data)
    except ValidationError as exc:
        raise InvalidEvent(f"{envelope.type} payload violates its schema: {_first_error(exc)}") from exc
    return envelope, payload


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "body"
    return f"{where}: {err.get('msg')}"
