"""`conference dashboard rebuild` counts every event exactly once, however often the log carries it,
on the embedded default (SQLite + embedded log) and on PostgreSQL + Kafka, and a second rebuild gives
the same read model."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from devkit import stack
from services.dashboard.app import SERVICE_DIR
from services.dashboard.models import delegate_counts, platform
from services.dashboard.rebuild import BATCH, rebuild
from shared.db.engine import make_engine
from shared.events import new_event
from shared.events.catalogue import definition_of_payload
from shared.events.registration import DelegatePrevious, DelegateRegistered, DelegateUpdated
from shared.events.types import DelegateCategory, DelegateStatus
from shared.messaging.bus import OutgoingMessage
from shared.messaging.bus.factory import open_bus
from shared.settings import PlatformSettings, ServiceSettings

COUNTRIES = ["MY", "SG", "TH", "CN"]


def history(rng: random.Random, delegates: int) -> tuple[list[OutgoingMessage], int, Counter[Any]]:
    """Registrations, some updates, and earlier events published again (the relay's at-least-once):
    the messages, how many distinct events they carry, and the counters the final states imply."""
    final: dict[str, DelegatePrevious] = {}
    messages: list[OutgoingMessage] = []
    for _ in range(delegates):
        did = str(uuid.uuid4())
        state = DelegatePrevious(country=rng.choice(COUNTRIES), category=DelegateCategory.guest,
                                 status=DelegateStatus.registered)
        payload: DelegateRegistered | DelegateUpdated = DelegateRegistered(
            delegate_id=did, edition_id="e1", country=state.country, category=state.category, status=state.status)
        if rng.random() < 0.2:  # then checked in or cancelled, in its own event
            messages.append(_message(payload))
            new = state.model_copy(update={"status": rng.choice([DelegateStatus.checked_in,
                                                                 DelegateStatus.cancelled])})
            payload = DelegateUpdated(delegate_id=did, edition_id="e1", country=new.country,
                                      category=new.category, status=new.status, previous=state)
            state = new
        messages.append(_message(payload))
        final[did] = state
    distinct = len(messages)
    messages += rng.sample(messages, len(messages) // 5)  # redelivered later, in other batches
    expected: Counter[Any] = Counter()
    for state in final.values():
        if state.status != DelegateStatus.cancelled:
            expected["e1", state.country, "registered"] += 1
        if state.status == DelegateStatus.checked_in:
            expected["e1", state.country, "checked_in"] += 1
    return messages, distinct, expected


def _message(payload: DelegateRegistered | DelegateUpdated) -> OutgoingMessage:
    event = new_event(payload, subject=payload.delegate_id)
    return OutgoingMessage(topic=definition_of_payload(type(payload)).topic, key=event.subject, value=event.to_bytes())


async def rebuild_and_count(settings: ServiceSettings) -> tuple[int, Counter[Any], int]:
    result = await rebuild(settings, SERVICE_DIR)
    engine = make_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            found: Counter[Any] = Counter()
            for row in (await conn.execute(select(delegate_counts))).all():
                found[row.edition_id, row.country, "registered"] += row.registered
                found[row.edition_id, row.country, "checked_in"] += row.checked_in
            processed = (await conn.execute(select(func.count()).select_from(platform.processed_events))).scalar()
    finally:
        await engine.dispose()
    return result.events, +found, int(processed or 0)


async def publish(settings: PlatformSettings, messages: list[OutgoingMessage]) -> None:
    bus = open_bus(settings)
    await bus.ensure_topics(sorted({settings.topic(m.topic) for m in messages}))
    producer = bus.producer()
    await producer.start()
    try:
        await producer.publish([OutgoingMessage(topic=settings.topic(m.topic), key=m.key, value=m.value)
                                for m in messages])
    finally:
        await producer.stop()


async def check_rebuild(settings: ServiceSettings) -> None:
    messages, distinct, expected = history(random.Random(7), delegates=BATCH + BATCH // 2)
    await publish(settings.platform, messages)
    for _ in range(2):  # a second rebuild starts from nothing again and ends at the same place
        events, counters, processed = await rebuild_and_count(settings)
        assert events == len(messages)
        assert counters == expected
        assert processed == distinct


async def test_a_rebuild_on_the_embedded_default_counts_each_event_once(tmp_path: Path) -> None:
    settings = PlatformSettings(data_dir=tmp_path / "data")
    (tmp_path / "data").mkdir()
    await check_rebuild(ServiceSettings("dashboard", settings,
                                        database_url=f"sqlite+inline:///{tmp_path / 'data' / 'dashboard.db'}"))


@pytest.mark.postgres
@pytest.mark.kafka
async def test_a_rebuild_on_postgres_and_kafka_counts_each_event_once(
        postgres_env: dict[str, str], kafka_env: dict[str, str], tmp_path: Path) -> None:
    settings = PlatformSettings(bus="kafka", kafka_bootstrap=stack.kafka_bootstrap(kafka_env),
                                topic_prefix=stack.topic_prefix(), data_dir=tmp_path / "data")
    url = (await stack.fresh_databases(postgres_env))["dashboard"]
    await check_rebuild(ServiceSettings("dashboard", settings, database_url=url))
