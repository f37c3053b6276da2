"""Kafka stopped for 20 s mid-load, then restarted: every write is still a 201 (the outboxes hold the
events), and once the broker is back the dashboard catches up to exactly the services' figures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit import stack
from tests.support.faults import Load, assert_nothing_lost, launched

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

OUTAGE_SECONDS = 20.0


@pytest.fixture(scope="module")
def private_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[stack.PrivateKafka, dict[str, str]]]:
    broker = stack.PrivateKafka(tmp_path_factory.mktemp("kafka-state"))
    try:
        yield broker, broker.start()
    finally:
        broker.stop()


async def test_kafka_down_for_20_s_mid_load(postgres_env: dict[str, str],
                                            private_kafka: tuple[stack.PrivateKafka, dict[str, str]],
                                            tmp_path: Path) -> None:
    broker, kafka_env = private_kafka
    async with launched(postgres_env, kafka_env, tmp_path) as platform:
        load = Load(platform, count=200, interval=0.2).start()
        try:
            for service in load.services:
                await load.progress(service, accepted=5)
            down_at = time.monotonic()
            await asyncio.to_thread(broker.stop)
            await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))  # the fault itself
            up_at = time.monotonic()
            assert not load.done, "the outage outlasted the load"
            await asyncio.to_thread(broker.start)
            for service in load.services:
                await load.progress(service, accepted=3, after=time.monotonic())
            await load.wait()
        finally:
            await load.cancel()

        for service in load.services:
            assert load.statuses(service) == {"201": load.count}, load.summary()  # not one write failed
            during = [a for a in load.accepted(service) if down_at <= a.started < up_at]
            assert len(during) >= 10, f"{service}: only {len(during)} writes while Kafka was down"
        verdict = await assert_nothing_lost(platform, load)
        print(f"Kafka down {up_at - down_at:.1f} s: "
              f"{ {s: sum(1 for a in load.accepted(s) if down_at <= a.started < up_at) for s in load.services} } "
              f"writes accepted meanwhile; {verdict.figures['delegates']}")
