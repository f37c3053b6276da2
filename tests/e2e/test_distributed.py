"""End to end on PostgreSQL + Kafka, each service its own OS process (`conference serve`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devkit import stack
from devkit.processes import ServiceProcesses, service_processes
from shared.topology import SERVICE_NAMES
from tests.support import scenario

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


def _urls(procs: ServiceProcesses) -> scenario.Urls:
    return scenario.Urls(**procs.urls)


@pytest.fixture
async def processes(postgres_env: dict[str, str], kafka_env: dict[str, str], tmp_path: Path
                    ) -> AsyncIterator[ServiceProcesses]:
    async with service_processes(SERVICE_NAMES, postgres_env, kafka_env, tmp_path) as procs:
        yield procs


@pytest.fixture
async def private_kafka(tmp_path: Path) -> AsyncIterator[stack.PrivateKafka]:
    broker = stack.PrivateKafka(tmp_path / "kafka-state")
    try:
        yield broker
    finally:
        broker.stop()


async def test_dashboard_converges_and_survives_kill_9(processes: ServiceProcesses) -> None:
    urls = _urls(processes)
    world = await scenario.drive(urls)
    await scenario.assert_converged(urls, world)

    # kill -9 the dashboard: it re-reads from its committed offsets; the inbox drops what it had applied.
    dashboard = processes["dashboard"]
    dashboard.kill()
    async with scenario.client() as c:
        for country in ["NZ", "MY", "CN"]:
            await scenario.register(c, urls, world, country)
    dashboard.start()
    await dashboard.wait_ready()
    await scenario.assert_converged(urls, world)
    await scenario.assert_all_present(urls, world)


async def test_writes_succeed_while_kafka_is_down_and_figures_converge_after(
        postgres_env: dict[str, str], private_kafka: stack.PrivateKafka, tmp_path: Path) -> None:
    kafka_env = private_kafka.start()
    async with service_processes(SERVICE_NAMES, postgres_env, kafka_env, tmp_path) as procs:
        urls = _urls(procs)
        world = await scenario.drive(urls)
        await scenario.assert_converged(urls, world)

        private_kafka.stop()
        async with scenario.client() as c:
            for country in ["JP", "KR", "MY", "VN", "PH"]:
                await scenario.register(c, urls, world, country)  # each asserts a 201
            await scenario.join(c, urls, world, "Hanoi Business Association", "VN")
        private_kafka.start()
        await scenario.assert_converged(urls, world, timeout=120)
        await scenario.assert_all_present(urls, world)


async def test_two_workers_per_service_converge_and_stop_cleanly(
        postgres_env: dict[str, str], kafka_env: dict[str, str], tmp_path: Path) -> None:
    # `conference serve --workers 2`: two processes per port, one relay per database, one consumer group.
    two = {name: ("--workers", "2") for name in SERVICE_NAMES}
    async with service_processes(SERVICE_NAMES, postgres_env, kafka_env, tmp_path, service_args=two,
                                 ready_timeout=120) as procs:
        urls = _urls(procs)
        world = await scenario.drive(urls)
        await scenario.assert_converged(urls, world)
        await scenario.assert_all_present(urls, world)
        registration = procs["registration"]
        registration.stop()  # SIGTERM to the parent: both workers drain and exit
        assert registration.process is not None and registration.process.returncode == 0
