"""``/stream`` behind the real server (uvicorn with the platform's protocol): the fan-out writes each frame
straight to an idle viewer's connection, and what the viewer reads is the same SSE stream, correctly
chunked, as through ASGI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from devkit.ports import free_port
from devkit.waiting import eventually
from services.dashboard.stream import OverviewBroadcaster
from shared.http.server import ShutdownSettings, server_config
from shared.settings import PlatformSettings
from tests.integration.test_stream_fanout import BOUND, data_of, events, registered_variant
from tests.support.inprocess import platform_settings, running_app


@asynccontextmanager
async def served(app: FastAPI, platform: PlatformSettings) -> AsyncIterator[str]:
    """``app`` (its lifespan already running) behind uvicorn on a loopback port."""
    port = free_port()
    config = server_config(app, host="127.0.0.1", port=port, platform=platform,
                           shutdown=ShutdownSettings())
    config.lifespan = "off"
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async def started() -> bool:
            return bool(server.started)
        await eventually(started, timeout=BOUND)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, BOUND)


class Viewer:
    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self.body = bytearray()
        self.task = asyncio.create_task(self._read(client, url))

    async def _read(self, client: httpx.AsyncClient, url: str) -> None:
        async with client.stream("GET", f"{url}/stream") as response:
            assert response.status_code == 200
            async for part in response.aiter_bytes():
                self.body += part

    def registered(self) -> list[int]:
        return [t["delegates"]["registered"] for t in data_of(bytes(self.body), "totals")]  # type: ignore[index]


async def test_updates_and_keep_alives_are_written_straight_to_idle_viewers(tmp_path: Path) -> None:
    platform = platform_settings(bus="embedded", data_dir=tmp_path / "data", topic_prefix="")
    async with running_app("dashboard", platform) as app, served(app, platform) as url, \
            httpx.AsyncClient(timeout=BOUND) as client:
        broadcaster: OverviewBroadcaster = app.state.broadcaster
        viewers = [Viewer(client, url) for _ in range(3)]
        try:
            for expected in ([0], [0, 7], [0, 7, 8]):
                if expected[-1]:
                    await broadcaster.publish(await registered_variant(app, expected[-1]))
                async def arrived(expected: list[int] = expected) -> bool:
                    return all(v.registered() == expected for v in viewers)
                await eventually(arrived, timeout=BOUND)
            await broadcaster.heartbeat_now()
            async def pinged() -> bool:
                return all(events(bytes(v.body))[-1][0] == "comment" for v in viewers)
            await eventually(pinged, timeout=BOUND)
            for viewer in viewers:
                assert [e for e in events(bytes(viewer.body)) if e[0] == "event"] == [
                    ("event", "totals"), ("event", "overview")] * 3
                assert data_of(bytes(viewer.body), "overview")[-1]["totals"] == data_of(bytes(viewer.body),
                                                                                       "totals")[-1]
            # Two updates and the keep-alives (ours, and the periodic one if a slow run reached its 15 s) to
            # each of three idle viewers, every frame written directly, none through a viewer's task.
            frames = sum(2 + sum(1 for e in events(bytes(v.body)) if e[0] == "comment") for v in viewers)
            assert frames >= 9
            assert (broadcaster.written_directly, broadcaster.sent_by_task) == (frames, 0)
        finally:
            for viewer in viewers:
                viewer.task.cancel()
            await asyncio.gather(*(v.task for v in viewers), return_exceptions=True)
        async def left() -> bool:
            return broadcaster.viewers == 0
        await eventually(left, timeout=BOUND)
