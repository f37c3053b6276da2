"""The 2025 replay (`conference run --demo`, `conference demo`) and `conference dashboard rebuild`,
on the embedded default and on PostgreSQL + Kafka."""

from __future__ import annotations

from pathlib import Path

import pytest

from devkit.processes import EmbeddedPlatform, service_processes
from devkit.waiting import eventually
from shared.topology import SERVICE_NAMES
from tests.support import scenario
from tests.support.demo import announced_figures, read_model, run_cli


async def test_the_replay_on_the_embedded_default_shows_the_announced_figures_and_rebuilds_to_them(
        tmp_path: Path) -> None:
    platform = EmbeddedPlatform(tmp_path / "data", tmp_path / "run.log")
    urls = scenario.Urls(**{s: platform.url(s) for s in ("registration", "projects", "network", "dashboard")})
    await platform.start("--demo", "--fast")
    try:
        # The figures can match /stats while the replay is still checking badges in: wait for its end.
        await eventually(lambda: _true("2025 conference replayed" in platform.log_path.read_text()),
                         timeout=300, interval=0.5)
        await announced_figures(urls)
        before = await read_model(urls)
        # Idempotent: a second replay creates nothing new.
        run_cli("demo", "--fast", env=platform.env)
        await announced_figures(urls)
        assert await read_model(urls) == before
    finally:
        platform.stop()

    output = run_cli("dashboard", "rebuild", env=platform.env)
    assert "dashboard rebuilt" in output
    await platform.start()
    try:
        assert await read_model(urls) == before
    finally:
        platform.stop()


@pytest.mark.postgres
@pytest.mark.kafka
async def test_the_replay_on_postgres_and_kafka_shows_the_announced_figures_and_rebuilds_to_them(
        postgres_env: dict[str, str], kafka_env: dict[str, str], tmp_path: Path) -> None:
    async with service_processes(SERVICE_NAMES, postgres_env, kafka_env, tmp_path) as procs:
        urls = scenario.Urls(**procs.urls)
        client_env = {**procs["dashboard"].process_env(), **{f"{s.upper()}_URL": u for s, u in procs.urls.items()}}
        run_cli("demo", "--fast", env=client_env)
        await announced_figures(urls)
        before = await read_model(urls)

        procs["dashboard"].stop()
        assert "dashboard rebuilt" in run_cli("dashboard", "rebuild", env=procs["dashboard"].process_env())
        procs["dashboard"].start()
        await procs["dashboard"].wait_ready()
        assert await read_model(urls) == before


async def _true(value: bool) -> bool:
    return value
