"""Tables every service database carries: the outbox, the inbox and the idempotency keys."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from shared.db.columns import UtcDateTime

AUTO_ID = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class PlatformTables:
    outbox: Table
    processed_events: Table
    idempotency_keys: Table


def add_platform_tables(metadata: MetaData) -> PlatformTables:
    outbox = Table(
        "outbox", metadata,
        # The id orders publication: events leave in the order their transactions wrote them.
        Column("id", AUTO_ID, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("type", String(200), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
    )
    processed_events = Table(
        "processed_events", metadata,
        Column("consumer", String(200), primary_key=True),
        Column("event_id", String(36), primary_key=True),
        Column("processed_at", UtcDateTime(), nullable=False),
    )
    idempotency_keys = Table(
        "idempotency_keys", metadata,
        # sha256 of (caller's token hash, path, key): neither the token nor the client's key is stored.
        Column("key", String(255), primary_key=True),
        Column("request_hash", String(64), nullable=False),
        Column("status_code", Integer, nullable=True),
        Column("response_body", Text, nullable=True),
        Column("created_at", UtcDateTime(), nullable=False),
        # Version 2 (migration "idempotency outcome"): the answer's headers (JSON) and its expiry.
        Column("response_headers", Text, nullable=True),
        Column("expires_at", UtcDateTime(), nullable=True, index=True),
    )
    return PlatformTables(outbox, processed_events, idempotency_keys)
