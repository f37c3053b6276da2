"""Pushes the live page's figures to every open ``/stream`` as events change them.

The snapshot refresher (``refresher.py``) publishes each new overview here (at most
``MAX_UPDATES_PER_SECOND`` times a second, so a burst of events becomes one update); every connected
client receives the latest version, and a client that connects gets the current one at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from services.dashboard.figures import Snapshot


class OverviewBroadcaster:
    def __init__(self) -> None:
        self._published = asyncio.Condition()
        self.version = 0
        self.latest: str | None = None

    async def publish(self, snapshot: Snapshot) -> None:
        """Hand a refreshed snapshot's overview to the clients, unless it shows what they already have."""
        payload = snapshot.overview.model_dump_json()
        if payload != self.latest:
            async with self._published:
                self.latest = payload
                self.version += 1
                self._published.notify_all()

    async def updates(self) -> AsyncIterator[str]:
        """The latest overview now, then each new one as it is published."""
        seen = 0
        while True:
            async with self._published:
                while self.version <= seen or self.latest is None:
                    await self._published.wait()
                seen = self.version
                payload = self.latest
            assert payload is not None
            yield payload
