"""LISTEN on a connection of its own (shared/db/notifications.py), which every dashboard replica's live page
relies on: a NOTIFY committed by another process calls back at once, and a listener whose connection the
server ends reconnects and calls back once more (a change committed while it was away is not missed)."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import pytest

from devkit import stack
from shared.db.notifications import listen_forever

pytestmark = pytest.mark.postgres
CHANNEL = "test_notifications"
MINE = f"""query = 'LISTEN "{CHANNEL}"'"""  # this test's listener only, not the relays of other tests


async def test_a_notify_calls_back_and_a_lost_connection_comes_back(postgres_env: dict[str, str]) -> None:
    url = stack.server_url(postgres_env)
    calls: asyncio.Queue[None] = asyncio.Queue()
    listener = asyncio.create_task(listen_forever(url, CHANNEL, lambda: calls.put_nowait(None)))
    sender = await asyncpg.connect(url)
    try:
        async with asyncio.timeout(10):
            await calls.get()  # the call on (re)connecting

            async def listening() -> bool:
                found = await sender.fetchval(f"SELECT count(*) FROM pg_stat_activity WHERE {MINE}")
                return bool(found)
            while not await listening():
                await asyncio.sleep(0.05)
            async with sender.transaction():
                await sender.execute("SELECT pg_notify($1, '')", CHANNEL)
            await calls.get()

            # The server ends the listening session (a restart, a failover): it comes back by itself.
            await sender.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {MINE}")
            await calls.get()
            while not await listening():
                await asyncio.sleep(0.05)
            await sender.execute("SELECT pg_notify($1, '')", CHANNEL)
            await calls.get()
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await sender.close()
