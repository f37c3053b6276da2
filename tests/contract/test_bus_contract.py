"""The bus contract (DESIGN.md §1, §4): both adapters give the same guarantees.

Every test runs against the embedded SQLite log and against the real Kafka broker: per-key order,
at-least-once delivery across a consumer crash, replay from offset 0 for a new group, partitions
shared by the members of a group, and the inbox's dead-lettering and deduplication on top of it.
Nothing sleeps for a fixed time: every wait polls until the expected effect or a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka
from cloudevents.core.formats.json import JSONFormat
from sqlalchemy import Column, Integer, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from devkit.waiting import eventually
from shared.db.columns import new_metadata
from shared.db.engine import make_engine
from shared.db.tables import add_platform_tables
from shared.events import CloudEvent, new_event
from shared.events.registration import EditionOpened
from shared.events.types import Host
from shared.messaging.bus import Bus, Consumer, OutgoingMessage, Producer, ReceivedMessage
from shared.messaging.bus.port import TopicPartition
from shared.messaging.inbox import EventConsumer
from shared.messaging.subscriptions import Subscriptions, subscribe
from shared.observability.metrics import PlatformMetrics

DEADLINE = 30.0
EDITION_OPENED = "conference.registration.edition_opened.v1"


# --------------------------------------------------------------------------------------------- helpers


async def read_until(consumer: Consumer, done: Callable[[list[ReceivedMessage]], bool], *,
                     within: float = DEADLINE, max_records: int = 100) -> list[ReceivedMessage]:
    """Poll until ``done(received)`` holds; fail with what was received when the deadline passes."""
    received: list[ReceivedMessage] = []
    deadline = time.monotonic() + within
    while not done(received):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"condition not met within {within}s; received {len(received)} messages: "
                                 f"{[m.value for m in received][:20]}")
        received.extend(await consumer.poll(max_records=max_records, timeout=min(0.5, remaining)))
    return received


async def read_count(consumer: Consumer, count: int, *, max_records: int = 100) -> list[ReceivedMessage]:
    return await read_until(consumer, lambda got: len(got) >= count, max_records=max_records)


def next_offsets(messages: Sequence[ReceivedMessage]) -> dict[tuple[str, int], int]:
    offsets: dict[tuple[str, int], int] = {}
    for m in messages:
        offsets[(m.topic, m.partition)] = max(offsets.get((m.topic, m.partition), 0), m.offset + 1)
    return offsets


@contextlib.asynccontextmanager
async def started(consumer: Consumer) -> AsyncIterator[Consumer]:
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def producing(bus: Bus) -> AsyncIterator[Callable[[Sequence[OutgoingMessage]], Awaitable[None]]]:
    producer = bus.producer()
    await producer.start()
    try:
        yield producer.publish
    finally:
        await producer.stop()


def keys(count: int) -> list[str]:
    return [f"key-{k:02d}" for k in range(count)]


# ------------------------------------------------------------------------------------------ ordering


async def test_per_key_order_is_kept_and_every_message_arrives(bus: Bus, prefix: str) -> None:
    topic = f"{prefix}orders"
    await bus.ensure_topics([topic])
    names = keys(10)
    # 200 messages, keys interleaved, each carrying its per-key sequence number in value and header.
    sequence: Counter[str] = Counter()
    messages: list[OutgoingMessage] = []
    for n in range(200):
        key = names[(n * 7) % len(names)]
        seq = sequence[key]
        sequence[key] += 1
        messages.append(OutgoingMessage(topic, key, f"{key}:{seq}".encode(),
                                        headers=(("seq", str(seq).encode()),)))
    batches, start = [], 0
    for size in (1, 9, 30, 60, 100):
        batches.append(messages[start:start + size])
        start += size
    assert start == len(messages)

    async with producing(bus) as publish, started(bus.consumer([topic], group=f"{prefix}reader")) as consumer:
        async def publish_in_batches() -> None:
            for batch in batches:
                await publish(batch)

        # The reader tails the log while the batches are being written; small polls cross batch bounds.
        publishing = asyncio.create_task(publish_in_batches())
        try:
            received = await read_count(consumer, len(messages), max_records=7)
        finally:
            await publishing

    assert len(received) == len(messages), "a message was delivered twice to a lone consumer"
    assert sorted(m.value for m in received) == sorted(m.value for m in messages), "a message was lost"
    for key in names:
        of_key = [m for m in received if m.key == key]
        assert [m.value for m in of_key] == [f"{key}:{s}".encode() for s in range(sequence[key])], (
            f"{key} arrived out of publish order")
        assert len({m.partition for m in of_key}) == 1, f"{key} was spread over several partitions"
        assert [dict(m.headers)["seq"] for m in of_key] == [str(s).encode() for s in range(sequence[key])]
    by_partition: dict[int, list[int]] = defaultdict(list)
    for m in received:
        by_partition[m.partition].append(m.offset)
    assert len(by_partition) >= 2, "10 keys should spread over several partitions"
    for partition, offsets in by_partition.items():
        assert offsets == list(range(len(offsets))), f"partition {partition}: offsets {offsets}"


async def test_a_consumer_of_several_topics_gets_each_of_them_and_nothing_of_the_others(bus: Bus, prefix: str
                                                                                        ) -> None:
    wanted, other = [f"{prefix}orders", f"{prefix}refunds"], f"{prefix}audit"
    await bus.ensure_topics([*wanted, other])
    names = keys(10)
    # Interleaved appends to the three topics while both groups tail the log; small polls cross
    # partitions and topics within one read.
    batches = [[OutgoingMessage(topic, names[(n + i) % len(names)], f"{topic}:{n}:{i}".encode())
                for topic in (*wanted, other) for i in range(3)] for n in range(10)]
    expected = [m for batch in batches for m in batch]
    async with producing(bus) as publish, \
            started(bus.consumer(wanted, group=f"{prefix}both")) as both, \
            started(bus.consumer([other], group=f"{prefix}audit")) as audit:
        async def publish_all() -> None:
            for batch in batches:
                await publish(batch)

        publishing = asyncio.create_task(publish_all())
        try:
            of_both = await read_count(both, 60, max_records=5)
            of_audit = await read_count(audit, 30, max_records=5)
        finally:
            await publishing

    for received, topics in ((of_both, wanted), (of_audit, [other])):
        assert sorted(m.value for m in received) == sorted(m.value for m in expected if m.topic in topics)
        offsets: dict[tuple[str, int], list[int]] = defaultdict(list)
        for m in received:
            offsets[(m.topic, m.partition)].append(m.offset)
        for (topic, partition), seen in offsets.items():
            assert seen == list(range(len(seen))), f"{topic}[{partition}]: offsets {seen}"


# ------------------------------------------------------------------------------------ at least once


async def test_uncommitted_messages_are_redelivered_after_a_consumer_crash(bus: Bus, prefix: str) -> None:
    topic, group = f"{prefix}crash", f"{prefix}group"
    await bus.ensure_topics([topic])
    names = keys(10)
    messages = [OutgoingMessage(topic, names[n % len(names)], f"m{n}".encode()) for n in range(40)]

    async with producing(bus) as publish:
        await publish(messages)

        # A reads everything, acknowledges the first half of each partition, and dies before the rest.
        a = bus.consumer([topic], group=group)
        await a.start()
        try:
            first = await read_count(a, len(messages))
            by_partition: dict[tuple[str, int], list[int]] = defaultdict(list)
            for m in first:
                by_partition[(m.topic, m.partition)].append(m.offset)
            committed = {tp: sorted(offsets)[len(offsets) // 2] for tp, offsets in by_partition.items()}
            await a.commit(committed)
        finally:
            await a.stop()  # the crash: whatever A read past the committed offsets was never acknowledged
        assert sorted(m.value for m in first) == sorted(m.value for m in messages)
        unacknowledged = {(m.partition, m.offset, m.value) for m in first
                          if m.offset >= committed[(m.topic, m.partition)]}
        assert 0 < len(unacknowledged) < len(messages)

        # B, same group: exactly the unacknowledged messages come again, the acknowledged ones do not.
        async with started(bus.consumer([topic], group=group)) as b:
            again = await read_count(b, len(unacknowledged))
            assert {(m.partition, m.offset, m.value) for m in again} == unacknowledged
            assert len(again) == len(unacknowledged)
            await b.commit(next_offsets(again))

        # C, same group, after B's commit: nothing old. One marker per key lands behind every old
        # message of its partition, so anything still uncommitted would arrive before the markers.
        async with started(bus.consumer([topic], group=group)) as c:
            markers = [OutgoingMessage(topic, key, f"marker-{key}".encode()) for key in names]
            await publish(markers)
            wanted = {m.value for m in markers}
            seen = await read_until(c, lambda got: wanted <= {m.value for m in got})
            assert sorted(m.value for m in seen) == sorted(wanted), "committed messages were delivered again"


# ----------------------------------------------------------------------------------------- replay


async def test_a_new_group_replays_every_message_from_offset_zero(bus: Bus, prefix: str) -> None:
    topic = f"{prefix}replay"
    await bus.ensure_topics([topic])
    names = keys(10)
    messages = [OutgoingMessage(topic, names[n % len(names)], f"r{n}".encode()) for n in range(30)]
    async with producing(bus) as publish:
        await publish(messages)

    async with started(bus.consumer([topic], group=f"{prefix}first")) as first:
        consumed = await read_count(first, len(messages))
        await first.commit(next_offsets(consumed))

    async with started(bus.consumer([topic], group=f"{prefix}rebuild")) as rebuild:
        replayed = await read_count(rebuild, len(messages))

    assert sorted(m.value for m in replayed) == sorted(m.value for m in messages)
    assert len(replayed) == len(messages)
    by_partition: dict[int, list[int]] = defaultdict(list)
    for m in replayed:
        by_partition[m.partition].append(m.offset)
    assert all(offsets[0] == 0 for offsets in by_partition.values()), "replay did not start at offset 0"
    for key in names:
        assert [m.value for m in replayed if m.key == key] == [m.value for m in messages if m.key == key]


async def test_a_rebuild_rereads_a_committed_group_from_offset_zero_up_to_the_end_offsets(bus: Bus, prefix: str
                                                                                         ) -> None:
    topic = f"{prefix}rebuilt"
    await bus.ensure_topics([topic])
    messages = [OutgoingMessage(topic, f"k{n % 7}", f"v{n}".encode()) for n in range(40)]
    async with producing(bus) as publish:
        await publish(messages)
    group = f"{prefix}dashboard"
    async with started(bus.consumer([topic], group=group)) as live:
        await live.commit(next_offsets(await read_count(live, len(messages))))

    ends = await bus.end_offsets([topic])
    assert sum(ends.values()) == len(messages)
    async with started(bus.consumer([topic], group=group, from_beginning=True)) as rebuild:
        replayed = await read_count(rebuild, len(messages))
        await rebuild.commit(next_offsets(replayed))
    assert sorted(m.value for m in replayed) == sorted(m.value for m in messages)
    assert next_offsets(replayed) == {tp: end for tp, end in ends.items() if end}

    # The group resumes after what the rebuild committed: only new messages arrive.
    async with producing(bus) as publish:
        await publish([OutgoingMessage(topic, "k0", b"after")])
    async with started(bus.consumer([topic], group=group)) as resumed:
        assert [m.value for m in await read_count(resumed, 1)] == [b"after"]


# ---------------------------------------------------------------------------------- consumer groups


async def test_members_of_a_group_share_the_partitions(bus: Bus, prefix: str) -> None:
    topic, group = f"{prefix}shared", f"{prefix}workers"
    await bus.ensure_topics([topic])
    names = keys(20)
    shares: tuple[list[ReceivedMessage], list[ReceivedMessage]] = ([], [])

    async with producing(bus) as publish, \
            started(bus.consumer([topic], group=group)) as one, \
            started(bus.consumer([topic], group=group)) as two:
        members = (one, two)

        async def poll_both_until(wanted: set[bytes]) -> None:
            deadline = time.monotonic() + DEADLINE
            while not wanted <= {m.value for share in shares for m in share}:
                remaining = deadline - time.monotonic()
                assert remaining > 0, "the group did not deliver every message in time"
                batches = await asyncio.gather(*(c.poll(max_records=100, timeout=min(0.2, remaining))
                                                 for c in members))
                for consumer, batch, share in zip(members, batches, shares, strict=True):
                    share.extend(batch)
                    if batch:
                        await consumer.commit(next_offsets(batch))

        # Warm up: publish probe rounds until one is split between both members without duplicates,
        # i.e. both are assigned and the group is stable (Kafka rebalanced, embedded heartbeated).
        deadline = time.monotonic() + DEADLINE
        for probe in range(10_000):
            assert time.monotonic() < deadline, "the two members never settled on disjoint partitions"
            round_values = {f"probe{probe}:{key}".encode() for key in names}
            await publish([OutgoingMessage(topic, key, f"probe{probe}:{key}".encode()) for key in names])
            await poll_both_until(round_values)
            counts = [sum(m.value in round_values for m in share) for share in shares]
            if all(counts) and sum(counts) == len(round_values):
                break

        for share in shares:
            share.clear()
        messages = [OutgoingMessage(topic, names[n % len(names)], f"w{n}".encode()) for n in range(200)]
        await publish(messages)
        await poll_both_until({m.value for m in messages})

    wanted = {m.value for m in messages}
    got = [[m for m in share if m.value in wanted] for share in shares]
    delivered = Counter(m.value for share in got for m in share)
    assert set(delivered) == wanted
    assert all(n == 1 for n in delivered.values()), (
        f"duplicates in the steady state: {[v for v, n in delivered.items() if n > 1][:10]}")
    assert got[0] and got[1], f"one member got nothing: {len(got[0])} / {len(got[1])}"
    assert not {m.partition for m in got[0]} & {m.partition for m in got[1]}, "a partition had two owners"


async def test_a_commit_racing_a_rebalance_does_not_break_the_member(bus: Bus, prefix: str) -> None:
    """A member that loses partitions between its poll and its commit keeps consuming (no restart)."""
    topic, group = f"{prefix}race", f"{prefix}workers"
    await bus.ensure_topics([topic])
    names = keys(20)
    async with producing(bus) as publish, started(bus.consumer([topic], group=group)) as one:
        await publish([OutgoingMessage(topic, key, f"before:{key}".encode()) for key in names])
        alone = await read_count(one, len(names))  # one owns every partition and commits nothing yet
        assert len({m.partition for m in alone}) >= 2

        async with started(bus.consumer([topic], group=group)) as two:
            shares: tuple[list[ReceivedMessage], list[ReceivedMessage]] = ([], [])

            async def poll_both_until(done: Callable[[], bool]) -> None:
                deadline = time.monotonic() + DEADLINE
                while not done():
                    remaining = deadline - time.monotonic()
                    assert remaining > 0, f"timed out: {len(shares[0])} / {len(shares[1])} received"
                    batches = await asyncio.gather(one.poll(max_records=100, timeout=min(0.2, remaining)),
                                                   two.poll(max_records=100, timeout=min(0.2, remaining)))
                    for share, batch in zip(shares, batches, strict=True):
                        share.extend(batch)

            # The second member takes over some partitions and re-reads their uncommitted messages.
            await poll_both_until(lambda: bool(shares[1]))
            # The first now acknowledges what it read before the rebalance, partitions it lost included.
            await one.commit(next_offsets(alone))
            await two.commit(next_offsets(shares[1]))

            after = [OutgoingMessage(topic, key, f"after:{key}".encode()) for key in names]
            await publish(after)
            wanted = {m.value for m in after}
            await poll_both_until(lambda: wanted <= {m.value for share in shares for m in share})
            got = [{m.value for m in share} & wanted for share in shares]
            assert got[0] and got[1], "both members keep consuming after the rebalance"


# ------------------------------------------------------------------------------ inbox on the bus


@dataclass
class Inbox:
    """An ``EventConsumer`` over one topic with an SQLite database, running as a task."""

    bus: Bus
    topic: str
    group: str
    engine: AsyncEngine
    applied: Table
    processed: Table
    metrics: PlatformMetrics
    calls: Counter[str] = field(default_factory=Counter)

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    async def applied_editions(self) -> list[str]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(self.applied.c.edition_id).order_by(self.applied.c.seq))
            return [r[0] for r in rows]

    async def publish(self, *messages: CloudEvent | tuple[str, bytes]) -> None:
        out = [OutgoingMessage(self.topic, m.subject, m.to_bytes()) if isinstance(m, CloudEvent)
               else OutgoingMessage(self.topic, m[0], m[1]) for m in messages]
        async with producing(self.bus) as publish:
            await publish(out)

    async def dead_letters(self, count: int) -> list[ReceivedMessage]:
        dlq = f"{self.topic}.dlq.{self.group}"  # DESIGN.md §3: <topic>.dlq.<consumer-group>
        async with started(self.bus.consumer([dlq], group=f"{self.group}-dlq-reader")) as reader:
            return await read_count(reader, count)


def edition_opened(edition_id: str) -> CloudEvent:
    payload = EditionOpened(edition_id=edition_id, number=2, year=2026, host=Host.sichuan, city="Chengdu",
                            starts_on=date(2026, 7, 30), ends_on=date(2026, 7, 31))
    return new_event(payload, subject=edition_id)


@contextlib.asynccontextmanager
async def running_inbox(bus: Bus, prefix: str, tmp_path: Path, *, fail_for: str | None = None,
                        max_attempts: int = 3) -> AsyncIterator[Inbox]:
    """Applies ``edition_opened`` into a table; the handler always raises for edition ``fail_for``."""
    topic, group = f"{prefix}conference.registration", f"{prefix}dashboard"
    await bus.ensure_topics([topic])  # the dead-letter topic is left for the adapter to create
    metadata = new_metadata()
    tables = add_platform_tables(metadata)
    applied = Table("applied_editions", metadata,
                    Column("seq", Integer, primary_key=True, autoincrement=True),
                    Column("event_id", String(36), nullable=False),
                    Column("edition_id", String(100), nullable=False))
    engine = make_engine(f"sqlite+inline:///{tmp_path / 'inbox.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    inbox = Inbox(bus=bus, topic=topic, group=group, engine=engine, applied=applied,
                  processed=tables.processed_events, metrics=PlatformMetrics("contract"))

    async def on_edition_opened(conn: AsyncConnection, envelope: CloudEvent, payload: EditionOpened) -> None:
        inbox.calls[payload.edition_id] += 1
        if payload.edition_id == fail_for:
            raise RuntimeError(f"edition {payload.edition_id} cannot be applied")
        await conn.execute(applied.insert().values(event_id=envelope.id, edition_id=payload.edition_id))

    subscriptions = Subscriptions.of(subscribe(EditionOpened, on_edition_opened))
    consumer = EventConsumer(group=group, subscriptions=subscriptions, topic_prefix=prefix, bus=bus, engine=engine,
                             processed=tables.processed_events, metrics=inbox.metrics,
                             poll_interval=0.2, max_attempts=max_attempts)
    task = asyncio.create_task(consumer.run(), name=group)
    try:
        yield inbox
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await engine.dispose()


async def test_a_poison_message_is_dead_lettered_and_the_consumer_moves_on(
        bus: Bus, prefix: str, tmp_path: Path) -> None:
    poison = b'{"specversion": "1.0", "id": '  # truncated JSON: no handler can ever read it
    after = edition_opened("ed-after-poison")
    async with running_inbox(bus, prefix, tmp_path) as inbox:
        await inbox.publish(("ed-after-poison", poison), after)  # same key: the good one is behind it

        async def settled() -> bool:
            return (inbox.sample("events_dead_lettered_total", topic=inbox.topic,
                                 reason="not a CloudEvents envelope") == 1
                    and await inbox.applied_editions() == ["ed-after-poison"])
        await eventually(settled, timeout=DEADLINE)

        letters = await inbox.dead_letters(1)
    assert len(letters) == 1
    letter = letters[0]
    assert letter.value == poison
    assert letter.key == "ed-after-poison"
    headers = dict(letter.headers)
    assert headers["dlq-reason"].decode().startswith("not a CloudEvents envelope"), headers
    assert headers["dlq-original-topic"] == inbox.topic.encode()
    assert headers["dlq-consumer-group"] == inbox.group.encode()
    assert headers["dlq-original-offset"] == b"0"


async def test_an_event_whose_handler_keeps_failing_is_dead_lettered_after_max_attempts(
        bus: Bus, prefix: str, tmp_path: Path) -> None:
    doomed, later = edition_opened("ed-doomed"), edition_opened("ed-later")
    async with running_inbox(bus, prefix, tmp_path, fail_for="ed-doomed", max_attempts=3) as inbox:
        await inbox.publish(("ed-shared", doomed.to_bytes()), ("ed-shared", later.to_bytes()))

        async def settled() -> bool:
            dead = inbox.sample("events_dead_lettered_total", topic=inbox.topic, reason="handler_failed")
            return dead == 1 and await inbox.applied_editions() == ["ed-later"]
        await eventually(settled, timeout=DEADLINE)

        assert inbox.calls["ed-doomed"] == 3, "the handler was not tried exactly max_attempts times"
        assert inbox.calls["ed-later"] == 1
        assert inbox.sample("events_retried_total", topic=inbox.topic, type=EDITION_OPENED) == 2
        letters = await inbox.dead_letters(1)
    assert [m.value for m in letters] == [doomed.to_bytes()]
    reason = dict(letters[0].headers)["dlq-reason"].decode()
    assert reason.startswith("handler_failed"), reason
    assert "RuntimeError" in reason and "edition ed-doomed cannot be applied" in reason, reason
    # The dlq- headers leave it structured mode: the CloudEvents SDK still reads the event in it.
    letter = KafkaMessage(headers=dict(letters[0].headers), key=letters[0].key, value=letters[0].value)
    assert from_kafka(letter, JSONFormat()).get_id() == doomed.id


class _DeadLettersFailOnce:
    """The bus, except that the first publish to a dead-letter topic fails (a broker hiccup)."""

    def __init__(self, bus: Bus) -> None:
        self.inner = bus
        self.name = bus.name
        self.failed = 0

    def producer(self) -> Producer:
        outer, inner = self, self.inner.producer()

        class FlakyProducer:
            async def start(self) -> None:
                await inner.start()

            async def stop(self) -> None:
                await inner.stop()

            async def publish(self, messages: Sequence[OutgoingMessage]) -> None:
                if not outer.failed and any(".dlq." in m.topic for m in messages):
                    outer.failed += 1
                    raise ConnectionError("broker unavailable while dead-lettering")
                await inner.publish(messages)

            async def send(self, messages: Sequence[OutgoingMessage]) -> Awaitable[object]:
                return await inner.send(messages)

        return FlakyProducer()

    def consumer(self, topics: Sequence[str], *, group: str, from_beginning: bool = False) -> Consumer:
        return self.inner.consumer(topics, group=group, from_beginning=from_beginning)

    async def end_offsets(self, topics: Sequence[str]) -> dict[TopicPartition, int]:
        return await self.inner.end_offsets(topics)

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        await self.inner.ensure_topics(topics)

    async def ping(self) -> bool:
        return await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()


async def test_a_dead_letter_is_not_lost_when_publishing_it_fails(bus: Bus, prefix: str, tmp_path: Path) -> None:
    doomed, later = edition_opened("ed-doomed"), edition_opened("ed-later")
    flaky = _DeadLettersFailOnce(bus)
    async with running_inbox(flaky, prefix, tmp_path, fail_for="ed-doomed", max_attempts=2) as inbox:
        await inbox.publish(("ed-shared", doomed.to_bytes()), ("ed-shared", later.to_bytes()))

        async def publish_failed() -> bool:
            return flaky.failed == 1 and await inbox.applied_editions() == ["ed-later"]
        await eventually(publish_failed, timeout=DEADLINE)

        # The consumer restarts from its committed offsets and must dead-letter the event again.
        letters = await inbox.dead_letters(1)
        assert [m.value for m in letters] == [doomed.to_bytes()]

        async def counted() -> bool:  # the counter moves just after the publish the reader already saw
            return inbox.sample("events_dead_lettered_total", topic=inbox.topic, reason="handler_failed") == 1
        await eventually(counted, timeout=DEADLINE)
        assert await inbox.applied_editions() == ["ed-later"], "the redelivery applied an event twice"


async def test_a_redelivered_event_is_applied_once(bus: Bus, prefix: str, tmp_path: Path) -> None:
    event = edition_opened("ed-twice")
    async with running_inbox(bus, prefix, tmp_path) as inbox:
        await inbox.publish(event, event)  # the same event id twice, back to back

        async def first_seen() -> bool:
            return (await inbox.applied_editions() == ["ed-twice"]
                    and inbox.sample("events_duplicate_total", topic=inbox.topic) == 1)
        await eventually(first_seen, timeout=DEADLINE)

        await inbox.publish(event)  # and once more, in a later batch

        async def second_skipped() -> bool:
            return inbox.sample("events_duplicate_total", topic=inbox.topic) == 2
        await eventually(second_skipped, timeout=DEADLINE)

        assert await inbox.applied_editions() == ["ed-twice"]
        assert inbox.calls["ed-twice"] == 1
        assert inbox.sample("events_consumed_total", topic=inbox.topic,
                            type=event.type) == 1, "a skipped redelivery counted as consumed"
        async with inbox.engine.connect() as conn:
            processed = await conn.scalar(select(func.count()).select_from(inbox.processed))
        assert processed == 1
