"""Pushes the live page's figures to every open ``/stream`` as events change them.

The snapshot refresher (``refresher.py``) publishes each new overview here (at most
``MAX_UPDATES_PER_SECOND`` times a second, so a burst of events becomes one update); every connected
client receives the latest version, and a client that connects gets the current one at once.

The broadcaster also admits the viewers: at most :func:`viewer_cap` at once per process (a client
beyond it gets 503 with ``Retry-After``), and none once the service drains (:meth:`close` ends every
stream, so a shutdown never waits for the live pages).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from services.dashboard.figures import Snapshot
from shared.http.limits import open_file_limit


def viewer_cap(configured: int) -> int:
    """``CONFERENCE_STREAM_MAX_VIEWERS``, kept to half the process's open-file limit: every viewer holds
    a socket, and the other half is left for the other requests, the databases and the bus, so that
    viewers can never take the last file descriptor (and with it ``/healthz``)."""
    limit = open_file_limit()
    return configured if limit is None else max(1, min(configured, limit // 2))


class OverviewBroadcaster:
    def __init__(self, max_viewers: int = 2000) -> None:
        self._published = asyncio.Condition()
        self.version = 0
        self.latest: str | None = None
        self.max_viewers = viewer_cap(max_viewers)
        self.viewers = 0
        self.closed = False
        self._waking: set[asyncio.Task[None]] = set()

    def admit(self) -> bool:
        """Take a viewer's place, if one is free (and the service is not draining); see :meth:`leave`."""
        if self.closed or self.viewers >= self.max_viewers:
            return False
        self.viewers += 1
        return True

    def leave(self) -> None:
        self.viewers -= 1

    async def publish(self, snapshot: Snapshot) -> None:
        """Hand a refreshed snapshot's overview to the clients, unless it shows what they already have."""
        payload = snapshot.overview.model_dump_json()
        if payload != self.latest:
            async with self._published:
                self.latest = payload
                self.version += 1
                self._published.notify_all()

    def close(self) -> None:
        """End every stream (the service is draining); no viewer is admitted afterwards. Safe to call
        from a signal handler: the waiting streams are woken from the loop."""
        self.closed = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop, so no stream waiting either
            return
        loop.call_soon_threadsafe(self._schedule_wake)

    def _schedule_wake(self) -> None:
        task = asyncio.create_task(self._wake_all())
        self._waking.add(task)
        task.add_done_callback(self._waking.discard)

    async def _wake_all(self) -> None:
        async with self._published:
            self._published.notify_all()

    async def updates(self) -> AsyncIterator[str]:
        """The latest overview now, then each new one as it is published, until :meth:`close`."""
        seen = 0
        while True:
            async with self._published:
                while (self.version <= seen or self.latest is None) and not self.closed:
                    await self._published.wait()
                if self.closed:
                    return
                seen = self.version
                payload = self.latest
            assert payload is not None
            yield payload
