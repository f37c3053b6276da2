"""kill -9 between the relay publishing a batch and deleting its rows: the batch is republished after
the restart (the topic holds the same event ids twice) and every consumer counts it once."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from shared.messaging.outbox import PAUSE_AFTER_PUBLISH_ENV
from tests.support.faults import Load, assert_nothing_lost, launched, wait_for_log

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

PAUSED = "relay paused after publish"


async def test_kill_9_between_publish_and_delete_republishes_and_counts_once(
        postgres_env: dict[str, str], kafka_env: dict[str, str], tmp_path: Path) -> None:
    # The registration relay holds 2 s after each publish, before deleting the rows: the window to kill in.
    async with launched(postgres_env, kafka_env, tmp_path,
                        extra_env={"registration": {PAUSE_AFTER_PUBLISH_ENV: "2"}}) as platform:
        registration = platform.procs["registration"]
        load = Load(platform, count=150, interval=0.1).start()
        try:
            await load.progress("registration", accepted=10)
            mark = registration.log_path.stat().st_size
            end = await wait_for_log(registration.log_path, PAUSED, after=mark, timeout=30)
            registration.kill()  # the batch is on the topic; its outbox rows are still there
            line = registration.log_path.read_bytes()[end:].split(b"\n", 1)[0].decode()
            in_flight = int(re.search(r"(\d+) events published", line).group(1))  # type: ignore[union-attr]
            duplicates_before = await platform.metric("dashboard", "events_duplicate_total")

            env = {k: v for k, v in registration.env.items() if k != PAUSE_AFTER_PUBLISH_ENV}
            await platform.restart("registration", env)
            await load.progress("registration", accepted=5, after=time.monotonic())  # and it takes writes again
            await load.wait()
        finally:
            await load.cancel()

        load.assert_no_server_error()
        verdict = await assert_nothing_lost(platform, load)
        # The killed batch went out twice, under the same event ids, and the dashboard skipped the copies.
        assert in_flight >= 1
        assert verdict.topics["registration"].duplicated_ids >= in_flight, verdict.report(load)
        duplicates = await platform.metric("dashboard", "events_duplicate_total") - duplicates_before
        assert duplicates >= in_flight
        print(f"relay killed with {in_flight} events published but not deleted; {duplicates:.0f} copies skipped "
              f"by the dashboard; {verdict.topics['registration'].duplicated_ids} event ids twice on the topic")
