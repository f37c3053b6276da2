"""End to end on the embedded default: `conference run` with SQLite files and the embedded log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devkit.processes import EmbeddedPlatform
from tests.support import scenario


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[scenario.Urls]:
    running = EmbeddedPlatform(tmp_path / "data", tmp_path / "run.log")
    await running.start()
    try:
        yield scenario.Urls(**{s: running.url(s) for s in ("registration", "projects", "network", "dashboard")})
    finally:
        running.stop()


async def test_conference_run_serves_all_four_and_the_dashboard_converges(platform: scenario.Urls) -> None:
    world = await scenario.drive(platform)
    await scenario.assert_converged(platform, world)
    await scenario.assert_all_present(platform, world)
