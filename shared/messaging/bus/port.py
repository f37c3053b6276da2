"""What the platform needs from a log-based message bus.

Both adapters give the same guarantees: messages with the same key land in the same partition and
are read in the order written; delivery is at least once (offsets are committed by the consumer
after its own database commit); a new consumer group starts from offset 0.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

TopicPartition = tuple[str, int]


@dataclass(frozen=True)
class OutgoingMessage:
    topic: str
    key: str
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = field(default=())


@dataclass(frozen=True)
class ReceivedMessage:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = field(default=())


class Producer(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        """Return once every message is durably acknowledged; raise if any was not."""

    async def send(self, messages: Sequence[OutgoingMessage]) -> Awaitable[object]:
        """Hand the messages over in order and return without waiting for the broker: the awaitable
        completes once every one is durably acknowledged, or raises. Messages handed over by a later
        call go out after these (the relay reads its next batch while this one is in flight)."""


def already_delivered() -> Awaitable[object]:
    """What :meth:`Producer.send` returns when the messages are durable once handed over (the embedded log)."""
    done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


class Consumer(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def poll(self, *, max_records: int, timeout: float) -> list[ReceivedMessage]:
        """Next messages of the partitions assigned to this member, waiting up to ``timeout`` s."""

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Record, for the group, the next offset to read in each partition."""

    async def lag(self) -> dict[TopicPartition, int]:
        """Events not yet read by this member in each partition assigned to it (end offset - position)."""


class Bus(Protocol):
    name: str

    def producer(self) -> Producer: ...

    def consumer(self, topics: Sequence[str], *, group: str, from_beginning: bool = False) -> Consumer:
        """A member of ``group``; ``from_beginning`` reads every partition from offset 0 regardless of the
        group's committed offsets, alone (no sharing), and still commits for the group (a rebuild)."""

    async def end_offsets(self, topics: Sequence[str]) -> dict[TopicPartition, int]:
        """The offset the next message of each partition will get (what "caught up" means)."""

    async def ensure_topics(self, topics: Sequence[str]) -> None: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


def partition_for(key: str, partitions: int) -> int:
    """Stable key -> partition mapping for the embedded log (Kafka uses its own murmur2)."""
    return zlib.crc32(key.encode()) % partitions
