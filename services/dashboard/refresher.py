"""One task keeps the read model's snapshot fresh for the live page's stream and the business gauges.

It reloads the snapshot when the consumer has applied events, at most ``MAX_UPDATES_PER_SECOND``
times a second (a burst of events becomes one refresh), and at least every ``REFRESH_SECONDS`` even
without events (the gauges show their snapshot's age; the date moves the current edition). Readers
take the latest snapshot: neither a ``/stream`` client nor a scrape queries the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from services.dashboard import service
from services.dashboard.figures import Snapshot

log = logging.getLogger(__name__)
MAX_UPDATES_PER_SECOND = 4
REFRESH_SECONDS = 30.0


class SnapshotRefresher:
    def __init__(self, engine: AsyncEngine, *, on_refresh: Callable[[Snapshot], Awaitable[None]]) -> None:
        self._engine = engine
        self._on_refresh = on_refresh
        self._changed = asyncio.Event()
        self.snapshot: Snapshot | None = None

    def changed(self) -> None:
        """Called by the consumer after it commits applied events: refresh soon."""
        self._changed.set()

    async def run(self) -> None:
        while True:
            self._changed.clear()  # a change during the load makes the next refresh
            try:
                async with self._engine.connect() as conn:
                    snapshot = await service.snapshot(conn, now=datetime.now(UTC))
            except Exception as exc:  # the database is away: readers keep the last snapshot, retry soon
                log.warning("cannot refresh the read-model snapshot: %r", exc)
                await asyncio.sleep(1)
                continue
            self.snapshot = snapshot
            await self._on_refresh(snapshot)
            # Coalesce: whatever arrives in the meantime becomes the next single refresh.
            await asyncio.sleep(1 / MAX_UPDATES_PER_SECOND)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), REFRESH_SECONDS)
