"""Graceful shutdown: `conference serve` gets SIGTERM in the middle of a load.

/readyz turns 503 first while the service still answers, then the listener closes, in-flight
requests finish, the relay publishes everything committed, the consumer commits its offsets, and the
process exits 0 within a bound. No accepted request is lost: every 201 is in the database and on the
bus, and nothing is in the database that the client was not told about.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from devkit.processes import ADMIN_TOKEN, ServiceProcess
from devkit.waiting import eventually
from tests.support.bodies import delegate_body, edition_body

EXIT_BOUND_SECONDS = 20.0
DRAIN_SECONDS = 1.0


def _rows(path: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path, timeout=30) as conn:
        return conn.execute(sql, params).fetchall()


async def _wait_exit(process: ServiceProcess, bound: float) -> int:
    assert process.process is not None
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        code = process.process.poll()
        if code is not None:
            return code
        await asyncio.sleep(0.05)
    process.kill()
    raise AssertionError(f"{process.service} did not exit within {bound}s:\n{process.log_path.read_text()[-3000:]}")


async def test_sigterm_mid_load_loses_no_accepted_request(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"CONFERENCE_DATA_DIR": str(data_dir), "CONFERENCE_BUS": "embedded", "CONFERENCE_ADMIN_TOKEN": ADMIN_TOKEN,
           "CONFERENCE_TOPIC_PREFIX": "", "CONFERENCE_POLL_INTERVAL_SECONDS": "0.2",
           "CONFERENCE_SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
           # The data dir's SQLite files, whatever the outer shell points the services at.
           **{f"{name.upper()}_DATABASE_URL": f"sqlite+inline:///{data_dir / name}.db"
              for name in ("registration", "dashboard")}}
    registration = ServiceProcess("registration", env, tmp_path)
    dashboard = ServiceProcess("dashboard", env, tmp_path)
    registration.start()
    dashboard.start()
    try:
        await registration.wait_ready()
        await dashboard.wait_ready()
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(base_url=registration.url, headers=headers, timeout=30) as client:
            edition = (await client.post("/editions", json=edition_body(2025))).json()
            accepted: list[str] = []
            refused: list[str] = []
            failures: list[str] = []
            stop = asyncio.Event()

            async def worker() -> None:
                async with httpx.AsyncClient(base_url=registration.url, headers=headers, timeout=30) as own:
                    while not stop.is_set():
                        body = delegate_body(edition["id"], email=f"{uuid.uuid4().hex}@example.com")
                        try:
                            response = await own.post("/delegates", json=body)
                        except httpx.TransportError:
                            refused.append(body["email"])  # never accepted: the listener is closed
                            return
                        if response.status_code == 201:
                            accepted.append(body["email"])
                        else:
                            failures.append(f"{response.status_code} {response.text[:200]}")

            workers = [asyncio.create_task(worker()) for _ in range(8)]
            await eventually(lambda: asyncio.sleep(0, len(accepted) >= 40), timeout=30)

            # SIGTERM both, mid-load.
            sent = time.monotonic()
            for process in (registration, dashboard):
                assert process.process is not None
                os.killpg(process.process.pid, signal.SIGTERM)

            # Not ready first, while still answering.
            async with httpx.AsyncClient(base_url=registration.url, timeout=5) as probe:
                ready = await probe.get("/readyz")
                health = await probe.get("/healthz")
            assert ready.status_code == 503 and ready.json()["status"] == "draining", ready.text
            assert health.status_code == 200
            during_drain = len(accepted)

            codes = list(await asyncio.gather(_wait_exit(registration, EXIT_BOUND_SECONDS),
                                              _wait_exit(dashboard, EXIT_BOUND_SECONDS)))
            elapsed = time.monotonic() - sent
            stop.set()
            await asyncio.gather(*workers)
    finally:
        registration.stop()
        dashboard.stop()

    logs = registration.log_path.read_text() + dashboard.log_path.read_text()
    assert codes == [0, 0], f"exit codes {codes}:\n{logs[-3000:]}"
    assert elapsed < EXIT_BOUND_SECONDS
    assert elapsed >= DRAIN_SECONDS * 0.9, "the listener closed before the drain period"
    assert not failures, failures[:5]
    assert len(accepted) > during_drain or refused, "the load did not reach the shutdown"

    # Every accepted request is in the database, and nothing else is.
    stored = {email for (email,) in _rows(data_dir / "registration.db", "SELECT email FROM delegates")}
    assert stored == set(accepted), (len(stored), len(accepted))
    # The relay published everything committed before it stopped.
    assert _rows(data_dir / "registration.db", "SELECT count(*) FROM outbox") == [(0,)]
    published = [json.loads(value) for (value,) in _rows(
        data_dir / "bus.db", "SELECT value FROM records WHERE topic = 'conference.registration'")]
    assert sorted(e["type"].split(".")[2] for e in published).count("delegate_registered") == len(accepted)
    # The consumer committed the offsets of everything it applied.
    committed = _rows(data_dir / "bus.db", "SELECT coalesce(sum(next_offset), 0) FROM group_offsets "
                                           "WHERE grp = 'conference-dashboard' AND topic = 'conference.registration'")
    applied = _rows(data_dir / "dashboard.db", "SELECT count(*) FROM processed_events")
    assert committed == applied, (committed, applied)
    assert '"event": "request"' in registration.log_path.read_text(), "no JSON request log lines"


@pytest.mark.parametrize("sig", [signal.SIGINT])
async def test_a_second_signal_does_not_wait(tmp_path: Path, sig: signal.Signals) -> None:
    env = {"CONFERENCE_DATA_DIR": str(tmp_path / "data"), "CONFERENCE_BUS": "embedded", "CONFERENCE_TOPIC_PREFIX": "",
           "CONFERENCE_ADMIN_TOKEN": ADMIN_TOKEN, "CONFERENCE_SHUTDOWN_DRAIN_SECONDS": "30",
           "NETWORK_DATABASE_URL": f"sqlite+inline:///{tmp_path / 'data' / 'network.db'}"}
    network = ServiceProcess("network", env, tmp_path)
    network.start()
    try:
        await network.wait_ready()
        assert network.process is not None
        os.killpg(network.process.pid, sig)
        async with httpx.AsyncClient(base_url=network.url, timeout=5) as probe:
            async def draining() -> bool:
                return (await probe.get("/readyz")).status_code == 503  # draining, for 30 s
            await eventually(draining, timeout=10, interval=0.1)
        os.killpg(network.process.pid, sig)
        code = await _wait_exit(network, EXIT_BOUND_SECONDS)  # well before the 30 s drain would end
        assert code == 0, network.log_path.read_text()[-3000:]
    finally:
        network.stop()
