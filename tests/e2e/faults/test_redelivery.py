"""Redelivery and disorder, produced straight onto the topics with aiokafka mid-load:

- a real event delivered twice (a copy in its own partition, another in a different one) is counted once;
- events of different aggregates delivered in reversed order across partitions (an edition's delegates
  before the edition itself, the last registered first) are all counted, correctly.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.faults import (
    CREATED_TYPE,
    WRITERS,
    Load,
    assert_nothing_lost,
    client,
    crafted_event,
    launched,
    produce,
    producer,
    read_topic,
)

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

PARTITIONS = 4  # CONFERENCE_TOPIC_PARTITIONS' default


def _delegate(edition_id: str, delegate_id: str, country: str, status: str) -> dict[str, str]:
    return {"delegate_id": delegate_id, "edition_id": edition_id, "country": country, "category": "guest",
            "status": status}


async def test_duplicates_and_out_of_order_events_count_once_and_correctly(
        postgres_env: dict[str, str], kafka_env: dict[str, str], tmp_path: Path) -> None:
    async with launched(postgres_env, kafka_env, tmp_path) as platform:
        load = Load(platform, count=70, interval=0.1).start()
        try:
            for service in WRITERS:
                await load.progress(service, accepted=5)
            duplicates_before = await platform.metric("dashboard", "events_duplicate_total")
            async with producer(platform.bootstrap) as p:
                # The same event twice more: once where it was, once in another partition.
                for service in WRITERS:
                    topic = platform.topic(service)
                    original = next(r for r in await read_topic(platform.bootstrap, topic)
                                    if (e := r.event()) is not None and e["type"] == CREATED_TYPE[service])
                    assert original.key is not None
                    await produce(p, topic, original.value, key=original.key, partition=original.partition)
                    await produce(p, topic, original.value, key=original.key,
                                  partition=(original.partition + 1) % PARTITIONS)

                # An edition of its own, whose events arrive last-first across the four partitions.
                edition, topic = str(uuid.uuid4()), platform.topic("registration")
                d1, d2, d3, d4 = (str(uuid.uuid4()) for _ in range(4))
                registered, cancelled, checked_in = (f"conference.registration.delegate_{t}.v1"
                                                     for t in ("registered", "cancelled", "checked_in"))
                previous = {"previous": {"country": "SG", "category": "guest", "status": "registered"}}
                # (partition, key, type, data), in the order they are produced
                arrivals: list[tuple[int, str, str, dict[str, Any]]] = [
                    (3, d4, registered, _delegate(edition, d4, "TH", "registered")),
                    (2, d3, registered, _delegate(edition, d3, "SG", "registered")),
                    (2, d3, checked_in, {**_delegate(edition, d3, "SG", "checked_in"), **previous}),
                    (1, d2, registered, _delegate(edition, d2, "MY", "registered")),
                    (1, d2, cancelled, {**_delegate(edition, d2, "MY", "cancelled"),
                                        "previous": {**previous["previous"], "country": "MY"}}),
                    (0, d1, registered, _delegate(edition, d1, "KE", "registered")),
                    (0, edition, "conference.registration.edition_opened.v1", {
                        "edition_id": edition, "number": 99, "year": 2099, "host": "Sichuan",
                        "starts_on": "2099-07-30", "ends_on": "2099-07-31"}),
                ]
                for partition, key, event_type, data in arrivals:
                    await produce(p, topic, crafted_event(event_type, key, data), key=key, partition=partition)
            await load.wait()
        finally:
            await load.cancel()

        load.assert_no_server_error()
        # The real edition: the dashboard equals the services; the crafted one is the dashboard's alone.
        verdict = await assert_nothing_lost(platform, load, edition_id=platform.edition_id, exact=False)
        copies = await platform.metric("dashboard", "events_duplicate_total") - duplicates_before
        assert copies >= 2 * len(WRITERS), f"the dashboard skipped {copies} copies"
        for service in WRITERS:
            assert verdict.topics[service].duplicated_ids >= 1

        async with client() as c:
            totals = (await c.get(f"{platform.url('dashboard')}/totals", params={"edition_id": edition})).json()
            assert totals["delegates"] == {"registered": 3, "checked_in": 1, "countries": 3, "pending": 0}, totals
            rows = (await c.get(f"{platform.url('dashboard')}/countries", params={"edition_id": edition})).json()
            per_country = {r["country"]: (r["delegates"], r["checked_in"]) for r in rows["items"] if r["delegates"]}
            assert per_country == {"KE": (1, 0), "SG": (1, 1), "TH": (1, 0)}, rows
        print(f"redelivery: {copies:.0f} copies skipped by the dashboard; out-of-order edition counted "
              f"{totals['delegates']}; {load.summary()}")
