"""The outbox relay on PostgreSQL: woken by NOTIFY at commit, one relay per service at a time,
events leave in the order their transactions wrote them, and nothing is lost when the leader dies."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devkit import stack
from devkit.waiting import eventually
from services.registration.app import SERVICE_DIR
from services.registration.models import platform as tables
from shared.db.engine import make_engine
from shared.db.migrations import migrate
from shared.events.registration import DelegateRegistered
from shared.events.types import DelegateCategory, DelegateStatus
from shared.messaging.bus.embedded import EmbeddedBus
from shared.messaging.outbox import Outbox, OutboxRelay, UnitOfWork
from shared.observability.metrics import PlatformMetrics

pytestmark = pytest.mark.postgres
SLOW_POLL = 60.0  # so that only a NOTIFY can wake a relay within the test's patience


@pytest.fixture
async def database_url(postgres_env: dict[str, str]) -> str:
    url = (await stack.fresh_databases(postgres_env))["registration"]
    await migrate(SERVICE_DIR, url)
    return url


class Relays:
    def __init__(self, database_url: str, bus: EmbeddedBus) -> None:
        self.engine = make_engine(database_url)
        self.database_url = database_url
        self.bus = bus
        self.outbox = Outbox("registration", tables, topic_prefix="")
        self.relays: list[tuple[OutboxRelay, asyncio.Task[None]]] = []

    def start(self) -> OutboxRelay:
        # Each relay has its own Outbox (its own in-process wake-up): only NOTIFY reaches all of them.
        relay = OutboxRelay(outbox=Outbox("registration", tables), engine=self.engine,
                            database_url=self.database_url, bus=self.bus, metrics=PlatformMetrics("registration"),
                            lock_path=None, poll_interval=SLOW_POLL)
        self.relays.append((relay, asyncio.create_task(relay.run())))
        return relay

    async def write(self, n: int, start: int = 0) -> None:
        """``n`` transactions, each registering one delegate; the writer's own wake-up goes nowhere."""
        for i in range(start, start + n):
            async with UnitOfWork(self.engine, self.outbox) as uow:
                uow.emit(DelegateRegistered(delegate_id=f"d{i:05d}", edition_id="e1", country="MY",
                                            category=DelegateCategory.guest, status=DelegateStatus.registered),
                         subject="same-key")
                await uow.commit()

    async def stop(self) -> None:
        for _, task in self.relays:
            task.cancel()
        await asyncio.gather(*(t for _, t in self.relays), return_exceptions=True)
        await self.engine.dispose()


@pytest.fixture
async def relays(database_url: str, tmp_path: Path) -> AsyncIterator[Relays]:
    r = Relays(database_url, EmbeddedBus(tmp_path / "bus.db"))
    try:
        yield r
    finally:
        await r.stop()


def published_delegates(bus_path: Path) -> list[str]:
    with sqlite3.connect(bus_path) as conn:
        rows = conn.execute('SELECT value FROM records ORDER BY partition, "offset"').fetchall()
    return [json.loads(value)["data"]["delegate_id"] for (value,) in rows]


async def test_one_relay_leads_and_events_leave_once_in_commit_order(relays: Relays, tmp_path: Path) -> None:
    first, second = relays.start(), relays.start()
    await eventually(lambda: _true(first.is_leader or second.is_leader))
    await relays.write(60)

    await eventually(lambda: _true(len(published_delegates(tmp_path / "bus.db")) >= 60), timeout=20)
    assert published_delegates(tmp_path / "bus.db") == [f"d{i:05d}" for i in range(60)]
    assert [first.is_leader, second.is_leader].count(True) == 1


async def test_the_standby_takes_over_when_the_leader_dies(relays: Relays, tmp_path: Path) -> None:
    first = relays.start()
    await eventually(lambda: _true(first.is_leader))
    second = relays.start()
    await relays.write(10)
    await eventually(lambda: _true(len(published_delegates(tmp_path / "bus.db")) == 10), timeout=20)
    assert not second.is_leader

    relays.relays[0][1].cancel()  # the leader's process dies: its session, and so its advisory lock, ends
    await eventually(lambda: _true(second.is_leader), timeout=30)
    await relays.write(10, start=10)
    await eventually(lambda: _true(len(published_delegates(tmp_path / "bus.db")) == 20), timeout=20)
    assert published_delegates(tmp_path / "bus.db") == [f"d{i:05d}" for i in range(20)]


async def _true(value: bool) -> bool:
    return value
