"""Our topics as the CloudEvents Python SDK reads them: one event of every catalogue type, published by the
platform's outbox relay, read back raw (aiokafka from the real Kafka broker; the embedded log's own reader)
and parsed by the SDK's automatic ``from_kafka`` and by ``from_structured``: same id, type, source,
subject, time and data as the platform's own reading of the record, and headers as docs/asyncapi.yaml
documents them. docs/integrators.md's SDK example is the code that reads them here."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka, from_structured
from cloudevents.core.formats.json import JSONFormat

from devkit import stack
from devkit.waiting import eventually
from services.registration.app import SERVICE_DIR
from services.registration.models import platform as tables
from shared.db.engine import make_engine
from shared.db.migrations import migrate
from shared.events import CATALOGUE, CloudEvent, parse_event
from shared.messaging.bus import Bus, ReceivedMessage
from shared.messaging.bus.embedded import EmbeddedBus
from shared.messaging.bus.kafka import KafkaBus
from shared.messaging.outbox import Outbox, OutboxRelay, UnitOfWork
from shared.observability.logging import request_id_var
from shared.observability.metrics import PlatformMetrics
from shared.topology import TOPICS
from tests.support.asyncapi_schemas import load_document, message_validator, violations
from tests.support.deployment import databases

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures" / "events"
REQUEST_ID = "sdk-contract-request"

# (headers, key, value) of one record as its reader got it.
RawRecord = tuple[dict[str, bytes], bytes | None, bytes]


def integrators_example() -> dict[str, Any]:
    """The Python block of docs/integrators.md's "Reading with the CloudEvents SDK", run as written."""
    text = (ROOT / "docs" / "integrators.md").read_text()
    section = text.split("## Reading with the CloudEvents SDK", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "docs/integrators.md lost its CloudEvents SDK example"
    namespace: dict[str, Any] = {}
    exec(compile(match.group(1), "docs/integrators.md", "exec"), namespace)
    return namespace


class Record:
    """What the example's functions read of an aiokafka ConsumerRecord (the embedded log's too)."""

    def __init__(self, raw: RawRecord) -> None:
        headers, self.key, self.value = raw
        self.headers = list(headers.items())


async def publish_every_type(database_url: str, bus: Bus, prefix: str) -> list[CloudEvent]:
    """One event of each catalogue type (the recorded samples' payloads) through a unit of work, and the
    relay running until the outbox is empty: the events as the platform publishes them."""
    await migrate(SERVICE_DIR, database_url)
    engine = make_engine(database_url)
    outbox = Outbox("registration", tables, topic_prefix=prefix)
    relay = OutboxRelay(outbox=outbox, engine=engine, database_url=database_url, bus=bus,
                        metrics=PlatformMetrics("registration"), lock_path=None, poll_interval=1.0)
    relay_task = asyncio.create_task(relay.run())
    token = request_id_var.set(REQUEST_ID)
    try:
        async with UnitOfWork(engine, outbox) as uow:
            for event_type in CATALOGUE:
                recorded, payload = parse_event((FIXTURES / f"{event_type}.json").read_bytes())
                uow.emit(payload, subject=recorded.subject)
            await uow.commit()
        emitted = list(uow.events)

        async def drained() -> bool:
            async with engine.connect() as conn:
                return (await conn.exec_driver_sql("SELECT count(*) FROM outbox")).scalar() == 0
        await eventually(drained, timeout=30)
        return emitted
    finally:
        request_id_var.reset(token)
        relay.request_stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(relay_task, timeout=30)
        await engine.dispose()


async def read_kafka(bootstrap: str, partitions: Sequence[tuple[str, int]], expected: int) -> list[RawRecord]:
    """Every record of ``partitions``, from offset 0, with aiokafka as any client would (no group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, partition) for topic, partition in partitions]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        records: list[RawRecord] = []

        async def all_read() -> bool:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend((dict(r.headers), r.key, r.value) for r in batch)
            return len(records) >= expected
        await eventually(all_read, timeout=30)
        return records
    finally:
        await consumer.stop()


async def read_embedded(bus: EmbeddedBus, topics: Sequence[str], expected: int) -> list[RawRecord]:
    consumer = bus.consumer(topics, group=f"{stack.topic_prefix()}sdk-reader", from_beginning=True)
    await consumer.start()
    try:
        received: list[ReceivedMessage] = []

        async def all_read() -> bool:
            received.extend(await consumer.poll(max_records=1000, timeout=0.5))
            return len(received) >= expected
        await eventually(all_read, timeout=30)
        return [(dict(m.headers), m.key.encode() if m.key is not None else None, m.value) for m in received]
    finally:
        await consumer.stop()


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
async def published(request: pytest.FixtureRequest, postgres_env: dict[str, str],
                    tmp_path: Path) -> AsyncIterator[tuple[list[CloudEvent], list[RawRecord]]]:
    prefix = stack.topic_prefix()
    topics = [prefix + topic for topic in TOPICS.values()]
    async with databases(postgres_env) as urls:
        if request.param == "kafka":
            bootstrap = stack.kafka_bootstrap(request.getfixturevalue("kafka_env"))
            kafka = KafkaBus(bootstrap)
            await kafka.ensure_topics(topics)
            emitted = await publish_every_type(urls["registration"], kafka, prefix)
            yield emitted, await read_kafka(bootstrap, list(await kafka.end_offsets(topics)), len(emitted))
        else:
            embedded = EmbeddedBus(tmp_path / "bus.db")
            try:
                emitted = await publish_every_type(urls["registration"], embedded, prefix)
                yield emitted, await read_embedded(embedded, topics, len(emitted))
            finally:
                await embedded.close()


def assert_same_event(sdk: BaseCloudEvent, ours: CloudEvent, key: bytes | None) -> None:
    assert (sdk.get_specversion(), sdk.get_id(), sdk.get_type(), sdk.get_source(), sdk.get_subject()) == (
        ours.specversion, ours.id, ours.type, ours.source, ours.subject)
    assert sdk.get_time() == ours.time
    assert sdk.get_datacontenttype() == ours.datacontenttype == "application/json"
    assert sdk.get_data() == ours.data
    assert sdk.get_extension("correlationid") == ours.correlationid == REQUEST_ID
    assert key is not None and sdk.get_extension("partitionkey") == key.decode() == ours.subject


async def test_the_sdk_reads_every_published_event_as_the_platform_does(
        published: tuple[list[CloudEvent], list[RawRecord]]) -> None:
    emitted, records = published
    assert len(records) == len(emitted) == len(CATALOGUE)
    document = load_document()
    for headers, key, value in records:
        ours, _ = parse_event(value)  # the platform's own consumers read the value, as before
        message = KafkaMessage(headers=headers, key=key, value=value)
        assert not [h for h in headers if h.lower().startswith("ce_")], f"{ours.type}: binary-mode headers {headers}"
        assert_same_event(from_kafka(message, JSONFormat()), ours, key)
        assert_same_event(from_structured(message, JSONFormat()), ours, key)
        documented = message_validator(document, ours.type, "headers")
        assert violations(documented, {k: v.decode() for k, v in headers.items()}) == [], ours.type
    assert sorted(parse_event(value)[0].id for _, _, value in records) == sorted(e.id for e in emitted)


async def test_the_integrators_sdk_example_reads_and_filters_them(
        published: tuple[list[CloudEvent], list[RawRecord]]) -> None:
    emitted, records = published
    example = integrators_example()
    by_id = {event.id: event for event in emitted}
    for raw in records:
        event = example["to_cloudevent"](Record(raw))
        assert_same_event(event, by_id[event.get_id()], raw[1])
    delegates = {"conference.registration.delegate_registered.v1", "conference.registration.delegate_updated.v1"}
    kept = [raw for raw in records if example["wanted"](Record(raw), delegates)]
    assert sorted(parse_event(value)[0].type for _, _, value in kept) == sorted(delegates)
