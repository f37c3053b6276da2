"""kill -9 of each service in turn, mid-load, then a restart: nothing accepted is lost or counted twice."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.faults import Load, assert_nothing_lost, launched

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


async def test_kill_9_each_service_in_turn_mid_load(postgres_env: dict[str, str], kafka_env: dict[str, str],
                                                    tmp_path: Path) -> None:
    async with launched(postgres_env, kafka_env, tmp_path) as platform:
        load = Load(platform, count=300, interval=0.15).start()
        try:
            await load.progress("registration", accepted=10)
            for victim in ("registration", "projects", "network", "dashboard"):
                killed_at = time.monotonic()
                platform.procs[victim].kill()
                if victim != "dashboard":
                    # Its writes now fail at the client (not accepted); the others carry on.
                    await load.progress(victim, failed=3, after=killed_at)
                for other in set(load.services) - {victim}:
                    await load.progress(other, accepted=3, after=killed_at)
                await platform.restart(victim)
                restarted_at = time.monotonic()
                for service in load.services:  # every writer accepts again, the restarted one included
                    await load.progress(service, accepted=2, after=restarted_at)
            await load.wait()
        finally:
            await load.cancel()

        load.assert_no_server_error()
        for victim in ("registration", "projects", "network"):
            assert load.unsent(victim) or load.lost_in_flight(victim), f"{victim} never looked dead to the load"
            assert all(a.status is None for a in load.attempts[victim] if not a.accepted), load.summary()
        verdict = await assert_nothing_lost(platform, load)
        print(f"kill -9 each service: {load.summary()}; figures {verdict.figures}")
