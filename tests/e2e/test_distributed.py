"""End to end on PostgreSQL + Kafka, each service its own OS process (`conference serve`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests import stack
from tests.e2e import scenario
from tests.harness import ADMIN_TOKEN, ServiceProcess

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


@pytest.fixture
async def processes(postgres_env: dict[str, str], kafka_env: dict[str, str], tmp_path: Path
                    ) -> AsyncIterator[dict[str, ServiceProcess]]:
    databases = await stack.fresh_databases(postgres_env)
    env = {
        **kafka_env,
        "CONFERENCE_TOPIC_PREFIX": stack.topic_prefix(),
        "CONFERENCE_ADMIN_TOKEN": ADMIN_TOKEN,
        "CONFERENCE_TOKENS": json.dumps({}),
        "CONFERENCE_DATA_DIR": str(tmp_path / "data"),
        **{f"{s.upper()}_DATABASE_URL": url for s, url in databases.items()},
    }
    procs = {s: ServiceProcess(s, env, tmp_path) for s in stack.SERVICES}
    for p in procs.values():
        p.start()
    try:
        for p in procs.values():
            await p.wait_ready()
        yield procs
    finally:
        for p in procs.values():
            p.stop()


def _urls(procs: dict[str, ServiceProcess]) -> scenario.Urls:
    return scenario.Urls(**{s: p.url for s, p in procs.items()})


async def test_dashboard_converges_survives_a_crash_and_a_broker_outage(processes: dict[str, ServiceProcess]
                                                                        ) -> None:
    urls = _urls(processes)
    world = await scenario.drive(urls)
    await scenario.assert_converged(urls, world)

    # kill -9 the dashboard: it re-reads from its committed offsets; the inbox drops what it had applied.
    dashboard = processes["dashboard"]
    dashboard.kill()
    dashboard.start()
    await dashboard.wait_ready()
    async with scenario.client() as c:
        await scenario.register(c, urls, world, "NZ")
    await scenario.assert_converged(urls, world)

    # Kafka down: writes still succeed (the outbox holds the events); figures converge once it is back.
    stack.stop_kafka()
    try:
        async with scenario.client() as c:
            for country in ["JP", "KR", "MY", "VN", "PH"]:
                await scenario.register(c, urls, world, country)
            await scenario.join(c, urls, world, "Hanoi Business Association", "VN")
    finally:
        stack.start_kafka()
    await scenario.assert_converged(urls, world, timeout=120)
    await scenario.assert_all_present(urls, world)
