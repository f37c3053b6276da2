"""One viewer's ``/stream`` response, in raw ASGI: it sends the broadcaster's frames as they come.

Per viewer this holds a :class:`~services.dashboard.stream.Viewer` slot, the request's own task and one
task that waits for the client to disconnect — no per-viewer timer, queue or serialisation
(sse-starlette's response ran three tasks and a ping timer per connection and encoded every event
itself). The wire format is the one the live page and clients rely on: ``text/event-stream``, events
``totals`` and ``overview`` with one JSON ``data`` line each, a ``: ping`` comment every 15 s, no ``id``
(each frame is the whole state: a reconnecting client gets the current one at once, nothing to
replay) and no ``retry`` (EventSource's default reconnection delay).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from services.dashboard.stream import OverviewBroadcaster, Viewer
from shared.http.problems import problem
from shared.http.server import CHUNK_WRITER

log = logging.getLogger(__name__)
VIEWER_RETRY_AFTER_SECONDS = 5
HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-store"),
           (b"connection", b"keep-alive"), (b"x-accel-buffering", b"no")]


class ViewerStream(Response):
    """Streams until the client leaves, the service drains, or a send waits longer than
    ``send_timeout`` (a client that stopped reading is disconnected quietly); always gives the
    viewer's place back."""

    media_type = "text/event-stream"

    def __init__(self, broadcaster: OverviewBroadcaster, *, send_timeout: float) -> None:
        # Not Response.__init__: it would add ``content-length: 0`` for the absent body.
        self.status_code = 200
        self.background = None
        self.raw_headers = list(HEADERS)
        self._broadcaster = broadcaster
        self._send_timeout = send_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        viewer: Viewer | None = None
        watcher: asyncio.Task[None] | None = None
        try:
            await send({"type": "http.response.start", "status": 200,
                        "headers": self.raw_headers})
            viewer = self._broadcaster.join(scope.get("extensions", {}).get(CHUNK_WRITER))
            watcher = asyncio.create_task(_until_disconnected(receive, viewer))
            if await self._send_frames(viewer, send):
                log.info("a /stream client stopped reading; disconnected")
            else:  # the service drains or the client left: end the chunked body properly
                with contextlib.suppress(OSError):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if watcher is not None:
                watcher.cancel()
            self._broadcaster.leave(viewer)

    async def _send_frames(self, viewer: Viewer, send: Send) -> bool:
        """Send the viewer's frames until its stream ends; True when a send timed out. The broadcaster's
        watchdog cancels this task when a send passes its deadline (the way ``asyncio.timeout`` would,
        without a timer per send)."""
        loop = asyncio.get_running_loop()
        try:
            while (frame := await viewer.next_frame()) is not None:
                viewer.send_deadline = loop.time() + self._send_timeout
                await send({"type": "http.response.body", "body": frame, "more_body": True})
                viewer.send_deadline = None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not viewer.timed_out or task is None or task.uncancel() > 0:
                raise  # not (only) the watchdog's cancellation: the request itself is cancelled
            return True
        return viewer.timed_out


async def _until_disconnected(receive: Receive, viewer: Viewer) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    viewer.end()


def open_stream(broadcaster: OverviewBroadcaster, *, send_timeout: float) -> Response:
    """A viewer's stream when a place is free, else 503 ``too_many_viewers`` with ``Retry-After``."""
    if not broadcaster.admit():
        detail = ("the service is shutting down; reconnect to retry" if broadcaster.closed else
                  f"this process already serves {broadcaster.max_viewers} live-page viewers; retry later")
        response = problem(503, "Too many viewers", detail, "too_many_viewers")
        response.headers["Retry-After"] = str(VIEWER_RETRY_AFTER_SECONDS)
        response.headers["Connection"] = "close"
        return response
    return ViewerStream(broadcaster, send_timeout=send_timeout)


class StreamEndpoint:
    """``GET /stream`` as a bare ASGI app, for :class:`shared.http.streams.HeldStreamsMiddleware`."""

    def __init__(self, broadcaster: OverviewBroadcaster, *, send_timeout: float) -> None:
        self.broadcaster = broadcaster
        self.send_timeout = send_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await open_stream(self.broadcaster, send_timeout=self.send_timeout)(scope, receive, send)
