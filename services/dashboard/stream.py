"""Pushes the live page's figures to every open ``/stream`` as events change them.

One task recomputes the overview when the read model changes (at most ``MAX_UPDATES_PER_SECOND``
times a second, so a burst of events becomes one update), and every connected client receives the
latest version; a client that connects gets the current one at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from services.dashboard import service

log = logging.getLogger(__name__)
MAX_UPDATES_PER_SECOND = 4


class OverviewBroadcaster:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._changed = asyncio.Event()
        self._published = asyncio.Condition()
        self.version = 0
        self.latest: str | None = None

    def changed(self) -> None:
        """Called by the consumer after it commits applied events."""
        self._changed.set()

    async def run(self) -> None:
        self._changed.set()  # the first overview, before any event arrives
        while True:
            await self._changed.wait()
            self._changed.clear()
            try:
                async with self._engine.connect() as conn:
                    document = await service.overview(conn, today=datetime.now(UTC).date())
            except Exception as exc:  # a database hiccup must not end the stream
                log.warning("cannot refresh the live overview: %r", exc)
                await asyncio.sleep(1)
                self._changed.set()
                continue
            payload = document.model_dump_json()
            if payload != self.latest:
                async with self._published:
                    self.latest = payload
                    self.version += 1
                    self._published.notify_all()
            # Coalesce: whatever arrives in the meantime becomes the next single update.
            await asyncio.sleep(1 / MAX_UPDATES_PER_SECOND)

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
