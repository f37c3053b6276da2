"""The live page's ``/stream`` cannot exhaust a process (issue 11): a per-process viewer cap (503 with
``Retry-After`` beyond it), a send timeout for clients that stop reading, streams that end when the
service drains, and a process that keeps answering other requests with few file descriptors left.

In-process against the dashboard's app (embedded mode, SQLite) with ASGI clients that control when they
read; and one ``conference serve dashboard`` under ``ulimit -n 256`` opened by more viewers than that.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from devkit.processes import ADMIN_TOKEN, ServiceProcess
from devkit.waiting import eventually
from tests.support.inprocess import platform_settings, running_app
from tests.support.rawhttp import SlowReader

BOUND = 20.0  # seconds: the most any single step may take before the test calls it stuck


async def _viewer(app: object, *, reading: bool = True) -> tuple[SlowReader, asyncio.Task[None]]:
    reader = SlowReader(app, "/stream")  # type: ignore[arg-type]
    if reading:
        reader.release.set()
    task = reader.start()
    await asyncio.wait_for(reader.started.wait(), BOUND)
    return reader, task


async def _end(reader: SlowReader, task: asyncio.Task[None]) -> None:
    reader.release.set()
    reader.disconnected.set()
    await asyncio.wait_for(task, BOUND)


async def test_viewers_beyond_the_cap_get_503_with_retry_after(tmp_path: Path) -> None:
    platform = platform_settings(bus="embedded", data_dir=tmp_path / "data", topic_prefix="", stream_max_viewers=2)
    async with running_app("dashboard", platform) as app:
        first, second = await _viewer(app), await _viewer(app)
        assert first[0].status == second[0].status == 200
        third, third_task = await _viewer(app)
        await asyncio.wait_for(third_task, BOUND)  # answered at once, not streamed
        assert third.status == 503, bytes(third.body)
        assert third.response_headers["content-type"] == "application/problem+json"
        assert int(third.response_headers["retry-after"]) > 0
        assert b"too_many_viewers" in third.body
        # A viewer that leaves frees its place.
        await _end(*first)
        async def admitted() -> bool:
            reader, task = await _viewer(app)
            if reader.status == 200:
                await _end(reader, task)
                return True
            await asyncio.wait_for(task, BOUND)
            return False
        await eventually(admitted, timeout=BOUND)
        await _end(*second)


async def test_a_viewer_that_stops_reading_is_disconnected(tmp_path: Path) -> None:
    platform = platform_settings(bus="embedded", data_dir=tmp_path / "data", topic_prefix="", stream_max_viewers=1,
                                 stream_send_timeout_seconds=0.5)
    async with running_app("dashboard", platform) as app:
        stuck, task = await _viewer(app, reading=False)  # takes the head, then never a byte of the stream
        await asyncio.wait_for(stuck.first_body.wait(), BOUND)
        # The server gives up on it by itself (no disconnect from the client) and frees its place.
        await asyncio.wait_for(asyncio.shield(task), BOUND)
        reader, next_task = await _viewer(app)
        assert reader.status == 200
        await _end(reader, next_task)
        await _end(stuck, task)


async def test_draining_ends_every_stream_and_admits_no_new_viewer(tmp_path: Path) -> None:
    platform = platform_settings(bus="embedded", data_dir=tmp_path / "data", topic_prefix="")
    async with running_app("dashboard", platform) as app:
        viewers = [await _viewer(app) for _ in range(3)]
        app.state.context.begin_draining()
        await asyncio.wait_for(asyncio.gather(*(task for _, task in viewers)), BOUND)
        late, late_task = await _viewer(app)
        await asyncio.wait_for(late_task, BOUND)
        assert late.status == 503 and "retry-after" in late.response_headers
        for reader, task in viewers:
            await _end(reader, task)


async def _open_stream(port: int) -> tuple[int | None, asyncio.StreamWriter | None]:
    """A viewer on a raw socket: the status it got (None when the connection failed) and its open socket."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), BOUND)
    except (OSError, TimeoutError):
        return None, None
    try:
        writer.write(b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        line = await asyncio.wait_for(reader.readline(), BOUND)
        return (int(line.split()[1]) if line.startswith(b"HTTP/") else None), writer
    except (OSError, TimeoutError, ValueError, IndexError):
        writer.close()
        return None, None


@pytest.mark.parametrize("viewers", [320])
async def test_a_process_short_of_file_descriptors_keeps_serving_and_stops(tmp_path: Path, viewers: int) -> None:
    data = tmp_path / "data"
    env = {"CONFERENCE_DATA_DIR": str(data), "CONFERENCE_BUS": "embedded", "CONFERENCE_ADMIN_TOKEN": ADMIN_TOKEN,
           "CONFERENCE_TOPIC_PREFIX": "", "CONFERENCE_SHUTDOWN_DRAIN_SECONDS": "0.5",
           "DASHBOARD_DATABASE_URL": f"sqlite+inline:///{data}/dashboard.db"}
    dashboard = ServiceProcess("dashboard", env, tmp_path, max_open_files=256)
    dashboard.start()
    writers: list[asyncio.StreamWriter] = []
    try:
        await dashboard.wait_ready()
        # More viewers than the process has file descriptors, all at once, each kept open.
        opened = await asyncio.gather(*(_open_stream(dashboard.port) for _ in range(viewers)))
        writers = [w for _, w in opened if w is not None]
        statuses = [status for status, _ in opened]
        streaming = statuses.count(200)
        assert 0 < streaming <= 128, statuses  # at most half the descriptors go to viewers
        assert set(statuses) <= {200, 503, None}, statuses
        # With every admitted viewer still connected, the same process answers other requests.
        async with httpx.AsyncClient(base_url=dashboard.url, timeout=5) as client:
            async def healthy() -> bool:
                try:
                    return (await client.get("/healthz")).status_code == 200
                except httpx.HTTPError:
                    return False
            await eventually(healthy, timeout=BOUND, interval=0.2)
            assert (await client.get("/totals")).status_code == 200
        # SIGTERM ends it, viewers and all, within a bound.
        assert dashboard.process is not None
        sent = time.monotonic()
        os.killpg(dashboard.process.pid, signal.SIGTERM)
        while dashboard.process.poll() is None and time.monotonic() - sent < BOUND:
            await asyncio.sleep(0.1)
        assert dashboard.process.poll() == 0, dashboard.log_path.read_text()[-3000:]
    finally:
        for writer in writers:
            with contextlib.suppress(Exception):
                writer.close()
        dashboard.stop()
