"""End to end on the embedded default: `conference run` with SQLite files and the embedded log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.e2e import scenario
from tests.harness import ADMIN_TOKEN, eventually, free_port


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[scenario.Urls]:
    base = free_port()
    while any(_busy(base + i) for i in range(4)):
        base = free_port()
    env = {**os.environ, "CONFERENCE_DATA_DIR": str(tmp_path / "data"), "CONFERENCE_ADMIN_TOKEN": ADMIN_TOKEN,
           "CONFERENCE_BUS": "embedded"}
    for name in ("REGISTRATION", "PROJECTS", "NETWORK", "DASHBOARD"):
        env.pop(f"{name}_DATABASE_URL", None)
    log = (tmp_path / "run.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "services.cli", "run", "--base-port", str(base)],
                               env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    urls = scenario.Urls(dashboard=f"http://127.0.0.1:{base}", registration=f"http://127.0.0.1:{base + 1}",
                         projects=f"http://127.0.0.1:{base + 2}", network=f"http://127.0.0.1:{base + 3}")
    try:
        async with httpx.AsyncClient() as c:
            async def up() -> bool:
                assert process.poll() is None, (tmp_path / "run.log").read_text()
                try:
                    return all([(await c.get(f"{u}/healthz")).status_code == 200
                                for u in (urls.dashboard, urls.registration, urls.projects, urls.network)])
                except httpx.HTTPError:
                    return False
            await eventually(up, timeout=60, interval=0.1)
        yield urls
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def _busy(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


async def test_conference_run_serves_all_four_and_the_dashboard_converges(platform: scenario.Urls) -> None:
    world = await scenario.drive(platform)
    await scenario.assert_converged(platform, world)
    await scenario.assert_all_present(platform, world)
