"""Pushes the live page's figures to every open ``/stream`` as events change them.

The snapshot refresher (``refresher.py``) publishes each new overview here (at most
``MAX_UPDATES_PER_SECOND`` times a second, so a burst of events becomes one update). The update is
serialised once, into the bytes of its two SSE events (``totals``, then ``overview``), and the same
bytes are handed to every viewer: ten thousand viewers cost one serialisation, not ten thousand.
A client that connects gets the current frame at once; one task sends the keep-alive comment to all.

A viewer whose stream is idle (waiting for a frame, nothing pending) and whose connection can take the
bytes without waiting gets the frame written straight to its socket by the fan-out
(``shared.http.server.ChunkWriter``): one write, no task woken, no pass through the ASGI send chain — a
tenth of the CPU per viewer, which is what the other requests of the process (``/totals``) wait behind.
Any other viewer — mid-send, or its client slow to read — is woken to send through ASGI as before.

Each viewer holds one slot, not a queue: a newer frame replaces one it has not taken yet (every frame
is the whole state, so the latest is all a viewer needs), and a keep-alive never replaces a frame. A
viewer that reads slowly therefore costs the same memory as a fast one and gets the latest figures
when it catches up.

The broadcaster also admits the viewers: at most :func:`viewer_cap` at once per process (a client
beyond it gets 503 with ``Retry-After``), and none once the service drains (:meth:`close` ends every
stream, so a shutdown never waits for the live pages).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from services.dashboard.figures import Snapshot
from shared.http.limits import open_file_limit
from shared.http.server import ChunkWriter, http_chunk

HEARTBEAT_SECONDS = 15.0
# A fan-out wakes viewers in chunks, one chunk per turn of the event loop: each woken viewer sends its
# frame in that turn, and other requests (/totals) get the loop between turns instead of waiting behind
# all 10,000 sends. The chunk is sized by time, not count: after each turn it is resized so that a turn
# takes about FAN_OUT_TURN_SECONDS (a send costs more on a loaded machine, and a fixed count of them
# then held /totals for longer).
FAN_OUT_TURN_SECONDS = 0.002
FAN_OUT_CHUNKS = (16, 64, 1024)  # smallest, first, largest
# How often the watchdog looks for sends that have waited longer than their timeout: a client that
# stopped reading is disconnected between ``send_timeout`` and ``send_timeout + WATCHDOG_SECONDS``.
WATCHDOG_SECONDS = 0.5
SEPARATOR = b"\r\n"  # sse-starlette's, which the stream used before: clients see the same bytes


def viewer_cap(configured: int) -> int:
    """``CONFERENCE_STREAM_MAX_VIEWERS``, kept to half the process's open-file limit: every viewer holds
    a socket, and the other half is left for the other requests, the databases and the bus, so that
    viewers can never take the last file descriptor (and with it ``/healthz``)."""
    limit = open_file_limit()
    return configured if limit is None else max(1, min(configured, limit // 2))


def sse_event(event: str, data: str) -> bytes:
    """One SSE event; ``data`` is one line of JSON (pydantic's dumps never contain a newline)."""
    return b"event: " + event.encode() + SEPARATOR + b"data: " + data.encode() + SEPARATOR + SEPARATOR


def sse_comment(text: str) -> bytes:
    return b": " + text.encode() + SEPARATOR + SEPARATOR


class Viewer:
    """One open stream: the frame it has not taken yet (None when none) and the future its stream
    waits on. ``__slots__`` because ten thousand of them are alive at once."""

    __slots__ = ("_task", "_waiter", "ended", "pending", "send_deadline", "timed_out", "writer")

    def __init__(self, frame: bytes | None, writer: ChunkWriter | None = None) -> None:
        self.pending = frame
        self.writer = writer  # its connection's, when the server offers one
        self.ended = False
        self.timed_out = False
        # When the send under way must have finished (loop time), None when none is: the broadcaster's
        # one watchdog reads it, instead of one timer per viewer per frame (10,000 timers an update).
        self.send_deadline: float | None = None
        self._task = asyncio.current_task()
        self._waiter: asyncio.Future[None] | None = None

    def offer(self, frame: bytes, chunk: bytes, *, update: bool) -> bool:
        """Hand a frame over (``chunk``: the same, framed for the socket), replacing one not taken yet; a
        keep-alive never replaces an update. True when it was written to the connection at once."""
        if self.ended or (not update and self.pending is not None):
            return False
        if (self.pending is None and self.writer is not None and self._waiter is not None
                and not self._waiter.done() and self.writer.write(chunk)):
            return True  # its task waits on, as if it had sent the frame itself
        self.pending = frame
        self._wake()
        return False

    def end(self) -> None:
        self.ended = True
        self._wake()

    def time_out(self) -> None:
        """Its send has waited too long: cancel the stream's task (as ``asyncio.timeout`` would), which
        sees :attr:`timed_out` and ends quietly."""
        if self.timed_out or self._task is None:
            return
        self.timed_out = True
        self.ended = True
        self._task.cancel()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next_frame(self) -> bytes | None:
        """The next frame to send, waiting for one; None once the stream is to end."""
        while not self.ended:
            if self.pending is not None:
                frame, self.pending = self.pending, None
                return frame
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return None


class OverviewBroadcaster:
    def __init__(self, max_viewers: int = 2000) -> None:
        self.version = 0
        self.latest: str | None = None  # the overview's JSON, to skip a refresh that changed nothing
        self.frame: bytes | None = None  # its SSE bytes, what every viewer is sent
        self.max_viewers = viewer_cap(max_viewers)
        self.closed = False
        self._viewers: set[Viewer] = set()
        self._reserved = 0  # places taken by admit() whose stream has not joined yet
        self._watchdog: asyncio.Task[None] | None = None
        # Frames offered so far: written straight to the connection, or not (the viewer woken to send
        # through ASGI, or the frame skipped: the stream ended, or a keep-alive behind a pending frame).
        self.written_directly = 0
        self.sent_by_task = 0

    @property
    def viewers(self) -> int:
        return len(self._viewers) + self._reserved

    def admit(self) -> bool:
        """Take a viewer's place, if one is free (and the service is not draining); see :meth:`join`."""
        if self.closed or self.viewers >= self.max_viewers:
            return False
        self._reserved += 1
        return True

    def join(self, writer: ChunkWriter | None = None) -> Viewer:
        """The admitted stream starts: it gets the current frame at once, then every later one (straight
        through ``writer`` when the server offers one and the connection can take it)."""
        self._reserved -= 1
        viewer = Viewer(self.frame, writer)
        if self.closed:
            viewer.end()
        self._viewers.add(viewer)
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.get_running_loop().create_task(self._watch())
        return viewer

    def leave(self, viewer: Viewer | None) -> None:
        """Give the place back (``None``: admitted, but its stream never joined)."""
        if viewer is None:
            self._reserved -= 1
        else:
            viewer.end()
            self._viewers.discard(viewer)
            if not self._viewers and self._watchdog is not None:
                self._watchdog.cancel()  # nothing to watch; the next viewer to join starts it again

    async def publish(self, snapshot: Snapshot) -> None:
        """Hand a refreshed snapshot's figures to every viewer, unless they show what it has already."""
        overview = snapshot.overview
        payload = overview.model_dump_json()
        if payload == self.latest:
            return
        self.latest = payload
        self.version += 1
        self.frame = sse_event("totals", overview.totals.model_dump_json()) + sse_event("overview", payload)
        await self._fan_out(self.frame, update=True)

    async def heartbeat_now(self) -> None:
        """One keep-alive comment to every viewer, so that proxies do not close an idle stream."""
        await self._fan_out(sse_comment(f"ping - {datetime.now(UTC)}"), update=False)

    async def heartbeat(self, interval: float = HEARTBEAT_SECONDS) -> None:
        """The one task that keeps every stream alive (per viewer, a timer would cost memory)."""
        while not self.closed:
            await asyncio.sleep(interval)
            await self.heartbeat_now()

    async def _watch(self) -> None:
        """The one watchdog over every viewer's send; cancelled when the last viewer leaves (the next to
        join starts it again), so a drained service keeps no task behind."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(WATCHDOG_SECONDS)
            now = loop.time()
            for viewer in list(self._viewers):
                if viewer.send_deadline is not None and viewer.send_deadline <= now:
                    viewer.time_out()

    async def _fan_out(self, frame: bytes, *, update: bool) -> None:
        """Offer ``frame`` to every viewer, a chunk per turn of the loop (sized by time, see
        ``FAN_OUT_TURN_SECONDS``). A viewer that joins meanwhile has the latest frame already; a newer
        frame published meanwhile replaces this one."""
        viewers = list(self._viewers)
        framed = http_chunk(frame)  # once for every viewer written to directly
        smallest, chunk, largest = FAN_OUT_CHUNKS
        start = 0
        while start < len(viewers):
            began = time.perf_counter()
            batch = viewers[start:start + chunk]
            direct = sum(viewer.offer(frame, framed, update=update) for viewer in batch)
            self.written_directly += direct
            self.sent_by_task += len(batch) - direct
            start += chunk
            if start >= len(viewers):
                return  # the last chunk sends as soon as this task gives the loop up
            await asyncio.sleep(0)  # the woken viewers send, other requests get the loop
            took = max(time.perf_counter() - began, 1e-6)  # this turn: the offers, the sends, the rest
            # At most doubled a turn: a turn the sends happened to be cheap in must not make the next
            # one hold the loop for a thousand sends.
            chunk = max(smallest, min(largest, 2 * chunk, int(chunk * FAN_OUT_TURN_SECONDS / took)))

    def close(self) -> None:
        """End every stream (the service is draining); no viewer is admitted afterwards. Safe to call
        from a signal handler: the streams are woken from the loop."""
        self.closed = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop, so no stream waiting either
            return
        loop.call_soon_threadsafe(self._end_all)

    def _end_all(self) -> None:
        for viewer in self._viewers:
            viewer.end()
