"""Poison messages on each topic, in every partition, mid-load: invalid JSON, an unknown event type and a
payload that violates its schema. Every consumer group dead-letters each of them to
``<topic>.dlq.<group>`` with the reason in the ``dlq-reason`` header, the dashboard counts them in
``events_dead_lettered_total``, and every consumer moves on: later valid events in the same partitions
are applied (the dashboard ends equal to the services)."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import pytest

from shared.messaging.inbox import dead_letter_topic
from tests.support.faults import (
    CREATED_TYPE,
    WRITERS,
    Load,
    assert_nothing_lost,
    crafted_event,
    launched,
    produce,
    producer,
    read_topic,
)

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

PARTITIONS = 4
# Which groups consume which topic (DESIGN.md §1).
CONSUMERS = {"registration": ("dashboard", "projects"), "network": ("dashboard", "projects"),
             "projects": ("dashboard", "network")}
REASONS = {"invalid_json": "not a CloudEvents envelope", "unknown_type": "unknown event type",
           "schema": "payload violates its schema"}


def _violating(service: str, subject: str) -> dict[str, object]:
    """The creation event's payload with a country that is no ISO 3166 code."""
    if service == "registration":
        return {"delegate_id": subject, "edition_id": str(uuid.uuid4()), "country": "ZZ", "category": "guest",
                "status": "registered"}
    if service == "network":
        return {"organization_id": subject, "name": "Nowhere Association", "country": "ZZ",
                "kind": "other", "status": "active"}
    return {"project_id": subject, "edition_id": str(uuid.uuid4()), "sector": "other", "status": "signed",
            "amount_cny": "1.00", "currency": "CNY", "countries": ["ZZ"], "organization_ids": [], "title": "x"}


async def test_poison_messages_are_dead_lettered_and_consumers_move_on(
        postgres_env: dict[str, str], kafka_env: dict[str, str], tmp_path: Path) -> None:
    async with launched(postgres_env, kafka_env, tmp_path) as platform:
        load = Load(platform, count=80, interval=0.1).start()
        poisoned: dict[str, dict[int, int]] = {s: {} for s in WRITERS}  # topic -> partition -> last poison offset
        try:
            for service in WRITERS:
                await load.progress(service, accepted=3)
            async with producer(platform.bootstrap) as p:
                for service in WRITERS:
                    topic = platform.topic(service)
                    for partition in range(PARTITIONS):
                        subject = str(uuid.uuid4())
                        for value in (
                            b'{"specversion": "1.0", "id": "' + subject.encode(),  # cut short: not JSON
                            crafted_event(f"conference.{service}.teleported.v1", subject, {"x": 1}),
                            crafted_event(CREATED_TYPE[service], subject, _violating(service, subject)),
                        ):
                            poisoned[service][partition] = await produce(p, topic, value, key=subject,
                                                                         partition=partition)
            await load.wait()
        finally:
            await load.cancel()

        load.assert_no_server_error()
        verdict = await assert_nothing_lost(platform, load)

        for service in WRITERS:
            topic = platform.topic(service)
            # Moved on: each poisoned partition holds valid events after the poison, and all were applied.
            records = await read_topic(platform.bootstrap, topic)
            for partition, offset in poisoned[service].items():
                later = [r for r in records if r.partition == partition and r.offset > offset]
                assert any(r.event() and r.event()["type"] == CREATED_TYPE[service] for r in later), (  # type: ignore[index]
                    f"no valid event after the poison in {topic}[{partition}]")
            for group in CONSUMERS[service]:
                dead = await read_topic(platform.bootstrap, dead_letter_topic(topic, platform.group(group)))
                reasons = Counter(next(k for k, text in REASONS.items() if text in r.headers["dlq-reason"].decode())
                                  for r in dead)
                assert reasons == dict.fromkeys(REASONS, PARTITIONS), (service, group, reasons)
                for r in dead:
                    assert r.headers["dlq-original-topic"].decode() == topic
                    assert r.headers["dlq-consumer-group"].decode() == platform.group(group)
            for kind, reason in REASONS.items():
                counted = await platform.metric("dashboard", "events_dead_lettered_total", topic=topic, reason=reason)
                assert counted == PARTITIONS, (service, kind, counted)
        print("poison: every group dead-lettered 3 kinds x 4 partitions per topic; "
              f"dashboard equals the services: {verdict.figures['network']}; {load.summary()}")
