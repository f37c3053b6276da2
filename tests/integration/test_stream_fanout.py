"""What a ``/stream`` viewer receives (issue 13): the SSE wire format the live page relies on, the latest
figures after it falls behind (never a backlog of older ones), and the shared keep-alive comment.

In-process against the dashboard's app (embedded mode, SQLite), with ASGI clients that control when they
read; updates are the read model's real snapshot with its registered count changed, handed to the
broadcaster as the refresher does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI

from devkit.waiting import eventually
from services.dashboard import service
from services.dashboard.figures import Snapshot
from services.dashboard.stream import OverviewBroadcaster
from tests.support.inprocess import platform_settings, running_app
from tests.support.rawhttp import SlowReader

BOUND = 20.0  # seconds: the most any single step may take before the test calls it stuck


def events(body: bytes) -> list[tuple[str, str]]:
    """The stream's blocks as (field, value) of their first line: ("event", name) or ("comment", text)."""
    blocks = [b for b in body.decode().split("\r\n\r\n") if b]
    parsed = []
    for block in blocks:
        first = block.split("\r\n")[0]
        parsed.append(("comment", first[2:]) if first.startswith(": ") else ("event", first.removeprefix("event: ")))
    return parsed


def data_of(body: bytes, event: str) -> list[dict[str, object]]:
    """The JSON ``data`` of every ``event`` block, in order."""
    found = []
    for block in body.decode().split("\r\n\r\n"):
        lines = block.split("\r\n")
        if lines[0] == f"event: {event}":
            assert len(lines) == 2 and lines[1].startswith("data: "), block
            found.append(json.loads(lines[1].removeprefix("data: ")))
    return found


async def registered_variant(app: FastAPI, registered: int) -> Snapshot:
    """The read model's snapshot, as if ``registered`` delegates had been counted."""
    async with app.state.context.read_engine.connect() as conn:
        snapshot = await service.snapshot(conn, now=datetime.now(UTC))
    totals = snapshot.overview.totals
    delegates = totals.delegates.model_copy(update={"registered": registered})
    overview = snapshot.overview.model_copy(update={"totals": totals.model_copy(update={"delegates": delegates})})
    return dataclasses.replace(snapshot, overview=overview)


async def connected(app: FastAPI, *, reading: bool) -> tuple[SlowReader, asyncio.Task[None]]:
    """A viewer that has its first frame (in hand when not ``reading``: its send is blocked)."""
    reader = SlowReader(app, "/stream")
    if reading:
        reader.release.set()
    task = reader.start()
    await asyncio.wait_for(reader.first_body.wait(), BOUND)
    return reader, task


async def test_a_viewer_gets_totals_then_overview_as_sse_events(tmp_path: Path) -> None:
    platform = platform_settings(bus="embedded", data_dir=tmp_path / "data", topic_prefix="")
    async with running_app("dashboard", platform) as app:
        broadcaster: OverviewBroadcaster = app.state.broadcaster
        reader, task = await connected(app, reading=True)
        assert reader.status == 200
        assert reader.response_headers["content-type"] == "text/event-stream; charset=utf-8"
        assert reader.response_headers["cache-control"] == "no-store"
        assert reader.response_headers["x-accel-buffering"] == "no"
        assert "x-request-id" in reader.response_headers  # it still passes the request middleware
        assert reader.response_headers["x-content-type-options"] == "nosniff"  # and the security headers
        assert reader.response_headers["access-control-allow-origin"] == "*"  # EventSource from other origins
        await broadcaster.publish(await registered_variant(app, 7))
        async def updated() -> bool:
            return len(data_of(bytes(reader.body), "overview")) == 2
        await eventually(updated, timeout=BOUND)
        body = bytes(reader.body)
        assert [e for e in events(body) if e[0] == "event"] == [("event", "totals"), ("event", "overview")] * 2
        latest = data_of(body, "overview")[-1]
        assert latest["totals"] == data_of(body, "totals")[-1]  # totals is the overview's own figures
        assert data_of(body, "totals")[-1]["delegates"]["registered"] == 7  # type: ignore[index]
        reader.disconnected.set()
        await asyncio.wait_for(task, BOUND)
        assert broadcaster.viewers == 0  # a viewer that leaves gives its place back


async def test_a_viewer_that_falls_behind_gets_the_latest_figures_not_each_update(tmp_path: Path) -> None:
    platform = platform_settings(bus="embedded", data_dir=tmp_path / "data", topic_prefix="")
    async with running_app("dashboard", platform) as app:
        broadcaster: OverviewBroadcaster = app.state.broadcaster
        slow, task = await connected(app, reading=False)  # its first frame is stuck in the socket
        for registered in range(1, 6):
            await broadcaster.publish(await registered_variant(app, registered))
        await broadcaster.heartbeat_now()  # a keep-alive does not push the pending update out
        slow.release.set()
        async def latest_arrived() -> bool:
            return any(t["delegates"]["registered"] == 5  # type: ignore[index]
                       for t in data_of(bytes(slow.body), "totals"))
        await eventually(latest_arrived, timeout=BOUND)
        counts = [t["delegates"]["registered"] for t in data_of(bytes(slow.body), "totals")]  # type: ignore[index]
        assert counts == [0, 5], counts  # the first frame, then only the latest: updates 1–4 were dropped
        slow.disconnected.set()
        await asyncio.wait_for(task, BOUND)


async def test_every_viewer_gets_the_shared_keep_alive_comment(tmp_path: Path) -> None:
    platform = platform_settings(bus="embedded", data_dir=tmp_path / "data", topic_prefix="")
    async with running_app("dashboard", platform) as app:
        broadcaster: OverviewBroadcaster = app.state.broadcaster
        viewers = [await connected(app, reading=True) for _ in range(3)]
        await broadcaster.heartbeat_now()  # what the one heartbeat task does every 15 s
        for reader, _ in viewers:
            async def pinged(reader: SlowReader = reader) -> bool:
                return any(kind == "comment" and text.startswith("ping") for kind, text in events(bytes(reader.body)))
            await eventually(pinged, timeout=BOUND)
        for reader, task in viewers:
            reader.disconnected.set()
            await asyncio.wait_for(task, BOUND)
