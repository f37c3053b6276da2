"""Every service as two replicas on one PostgreSQL and one Kafka (issue 15, docs/operations.md "Production
topology"): HTTP answered by either, one outbox relay per database at a time, the consumers of a group sharing
the partitions. One replica of each service is killed with SIGKILL mid-load (for a writing service, the one
holding the relay lock) and restarted: every 201 is counted exactly once and the dashboard is exact."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from devkit.processes import ADMIN_TOKEN, ServiceProcess
from devkit.waiting import eventually
from tests.support.faults import WRITERS, Load, Platform, assert_nothing_lost, launched, process_metric

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@contextlib.asynccontextmanager
async def second_replicas(platform: Platform, tmp_path: Path) -> AsyncIterator[dict[str, list[ServiceProcess]]]:
    """A second `conference serve` of every service, with the first one's configuration (its database, topic
    prefix and consumer groups): ``{service: [first, second]}``."""
    log_dir = tmp_path / "second-replicas"
    log_dir.mkdir()
    seconds = {s: ServiceProcess(s, dict(p.env), log_dir, args=p.args) for s, p in platform.procs.items()}
    try:
        for second in seconds.values():
            second.start()
        await asyncio.gather(*(second.wait_ready(timeout=90) for second in seconds.values()))
        yield {s: [platform.procs[s], second] for s, second in seconds.items()}
    finally:
        await asyncio.gather(*(asyncio.to_thread(second.stop) for second in seconds.values()))


async def leads(replica: ServiceProcess) -> bool:
    try:
        return await process_metric(replica.url, "outbox_relay_leader") == 1
    except httpx.ConnectError:  # killed: it leads nothing
        return False


async def relay_leader(replicas: list[ServiceProcess]) -> ServiceProcess:
    """The replica holding its database's relay lock (exactly one of those alive does)."""
    async def one_leader() -> ServiceProcess:
        leaders = [p for p in replicas if await leads(p)]
        assert len(leaders) == 1, f"{len(leaders)} relay leaders among {[p.url for p in replicas]}"
        return leaders[0]
    leader: ServiceProcess = await eventually(one_leader, timeout=30, interval=0.1)
    return leader


def answered_by_all(load: Load, service: str, replicas: list[ServiceProcess]) -> bool:
    return {a.url for a in load.accepted(service)} == {p.url for p in replicas}


async def until_answered_by_all(load: Load, service: str, replicas: list[ServiceProcess]) -> None:
    async def answered() -> bool:
        return answered_by_all(load, service, replicas)
    await eventually(answered, timeout=60)


async def stream_until(url: str, registered: int) -> None:
    """Read the live page's stream at ``url`` until its totals show ``registered`` delegates."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as c, c.stream("GET", f"{url}/stream") as r:
        assert r.status_code == 200
        event = ""
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "totals":
                if json.loads(line.removeprefix("data: "))["delegates"]["registered"] == registered:
                    return


async def test_two_replicas_of_each_service_lose_one_each_mid_load(postgres_env: dict[str, str],
                                                                   kafka_env: dict[str, str],
                                                                   tmp_path: Path) -> None:
    async with launched(postgres_env, kafka_env, tmp_path) as platform, \
            second_replicas(platform, tmp_path) as replicas:
        load = Load(platform, count=900, interval=0.1, replicas=replicas).start()
        failovers: dict[str, float] = {}
        try:
            for service in WRITERS:  # both replicas answer
                await until_answered_by_all(load, service, replicas[service])
            for service, pair in replicas.items():
                victim = await relay_leader(pair) if service in WRITERS else pair[0]
                [survivor] = [p for p in pair if p is not victim]
                killed_at = time.monotonic()
                victim.kill()
                if service in WRITERS:
                    # The standby's blocked pg_advisory_lock returns as the dead session ends: it relays now.
                    assert await relay_leader(pair) is survivor
                    failovers[service] = time.monotonic() - killed_at
                    await load.progress(service, accepted=3, after=killed_at)
                victim.start()
                await victim.wait_ready(timeout=90)
                restarted_at = time.monotonic()
                for writer in WRITERS:
                    await load.progress(writer, accepted=2, after=restarted_at)
            await load.wait()
        finally:
            await load.cancel()

        load.assert_no_server_error()
        for service in WRITERS:
            assert answered_by_all(load, service, replicas[service]), load.summary()
            assert load.unsent(service) or load.lost_in_flight(service), f"{service}: the kill went unnoticed"
        verdict = await assert_nothing_lost(platform, load)
        async with httpx.AsyncClient(timeout=10) as c:  # either dashboard replica gives the same figures
            for replica in replicas["dashboard"]:
                totals = (await c.get(f"{replica.url}/totals")).json()
                assert {k: totals[k] for k in verdict.figures} == verdict.figures, replica.url

        # One more delegate: one partition, so one dashboard replica applies it. Viewers of both see it at once
        # (the read model's NOTIFY), not at the other's next periodic refresh (every 30 s).
        async with httpx.AsyncClient(timeout=10, headers=ADMIN) as c:
            registered = await c.post(f"{replicas['registration'][0].url}/delegates", json={
                "edition_id": platform.edition_id, "full_name": "Late Delegate", "country": "MY",
                "email": "late.delegate@example.org", "category": "representative"})
            assert registered.status_code == 201, registered.text
        async with asyncio.timeout(15):
            await asyncio.gather(*(stream_until(p.url, verdict.figures["delegates"]["registered"] + 1)
                                   for p in replicas["dashboard"]))
        print(f"two replicas each, one killed each: {load.summary()}; relay failover "
              f"{ {s: round(t, 2) for s, t in failovers.items()} } s; figures {verdict.figures}")
