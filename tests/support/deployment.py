"""Deployments for integration tests: the services in-process (ASGI) against the real PostgreSQL, on the embedded bus.

A :class:`Deployment` is one or more services sharing a data directory (so one embedded log,
``<data_dir>/bus.db``) and a topic prefix, each on its own fresh PostgreSQL database. Modules create
one per module where tests do not need isolation; tests that do (rotation from the first edition,
the replica catching up) create their own with :func:`deploy`.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from devkit import stack
from devkit.waiting import eventually
from shared.topology import TOPICS
from tests.support.bodies import delegate_body, edition_body
from tests.support.inprocess import platform_settings, running_service

# The tables a write of each service would touch ("nothing written" compares their row counts).
STATE_TABLES = {
    "registration": ("editions", "delegates", "idempotency_keys"),
    "projects": ("projects", "project_parties", "idempotency_keys"),
    "network": ("organizations", "idempotency_keys"),
    "dashboard": (),
}


@dataclass
class Deployment:
    data_dir: Path
    topic_prefix: str
    database_urls: dict[str, str]
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    engines: dict[str, AsyncEngine] = field(default_factory=dict)

    def __getitem__(self, service: str) -> httpx.AsyncClient:
        return self.clients[service]

    @property
    def bus_path(self) -> Path:
        return self.data_dir / "bus.db"

    # -- events -------------------------------------------------------------------------------------------

    def bus_records(self, service: str) -> int:
        """Records on the embedded log in ``service``'s topic (dead-letter topics excluded)."""
        if not self.bus_path.exists():
            return 0
        conn = sqlite3.connect(self.bus_path, timeout=30)
        try:
            row = conn.execute("SELECT count(*) FROM records WHERE topic = ?",
                               (self.topic_prefix + TOPICS[service],)).fetchone()
        except sqlite3.OperationalError:  # the schema is not there yet: nothing was ever published
            return 0
        finally:
            conn.close()
        return int(row[0])

    def bus_events(self, service: str) -> list[dict[str, Any]]:
        """The CloudEvents ``service`` published on the embedded log, in the order they were emitted.

        One relay batch is appended at one instant across partitions (and a partition's offsets say
        nothing of another's), so within an append the events' own ``time`` decides."""
        conn = sqlite3.connect(self.bus_path, timeout=30)
        try:
            rows = conn.execute('SELECT appended_at, value FROM records WHERE topic = ? '
                                'ORDER BY appended_at, partition, "offset"',
                                (self.topic_prefix + TOPICS[service],)).fetchall()
        finally:
            conn.close()
        events = [(appended_at, json.loads(bytes(value))) for appended_at, value in rows]
        # Stable sort: events of one partition with the same timestamp keep their offset order.
        events.sort(key=lambda item: (item[0], item[1]["time"]))
        return [event for _, event in events]

    async def scalar(self, service: str, sql: str, **params: Any) -> Any:
        async with self.engines[service].connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()

    async def outbox_count(self, service: str) -> int:
        return int(await self.scalar(service, "SELECT count(*) FROM outbox"))

    async def event_count(self, service: str) -> int:
        """Events ``service`` has published, once its relay has drained the outbox.

        An event written by a request is, at any moment, in the outbox (until the relay deletes it
        after publishing) or on the log, so "outbox empty and log unchanged" after a request means
        the request emitted nothing.
        """
        async def drained() -> bool:
            return await self.outbox_count(service) == 0
        await eventually(drained, timeout=20)
        return self.bus_records(service)

    async def row_counts(self, service: str) -> dict[str, int]:
        return {t: int(await self.scalar(service, f'SELECT count(*) FROM "{t}"')) for t in STATE_TABLES[service]}

    # -- replicas -----------------------------------------------------------------------------------------

    async def projects_know_edition(self, edition_id: str) -> None:
        async def known() -> bool:
            return bool(await self.scalar("projects", "SELECT count(*) FROM known_editions WHERE edition_id = :i",
                                          i=edition_id))
        await eventually(known, timeout=20)

    async def projects_know_organization(self, organization_id: str, status: str = "active") -> None:
        async def known() -> bool:
            known_status = await self.scalar("projects", "SELECT status FROM known_organizations "
                                             "WHERE organization_id = :i", i=organization_id)
            return bool(known_status == status)
        await eventually(known, timeout=20)


@contextlib.asynccontextmanager
async def databases(postgres_env: Mapping[str, str]) -> AsyncIterator[dict[str, str]]:
    """Four fresh databases, dropped afterwards."""
    urls = await stack.fresh_databases(postgres_env)
    try:
        yield urls
    finally:
        await stack.drop_databases(postgres_env, urls.values())


@contextlib.asynccontextmanager
async def deploy(postgres_env: Mapping[str, str], data_dir: Path, services: Sequence[str],
                 urls: dict[str, str] | None = None, **overrides: Any) -> AsyncIterator[Deployment]:
    """``services`` running in-process on fresh databases, sharing one topic prefix and, unless
    ``overrides`` name another bus (``bus="kafka", kafka_bootstrap=…``), one embedded log."""
    async with contextlib.AsyncExitStack() as exit_stack:
        if urls is None:
            urls = await exit_stack.enter_async_context(databases(postgres_env))
        prefix = stack.topic_prefix()
        platform = platform_settings(**{"bus": "embedded", **overrides}, data_dir=data_dir, topic_prefix=prefix)
        deployment = Deployment(data_dir=data_dir, topic_prefix=prefix, database_urls=urls)
        for service in STATE_TABLES:
            engine = create_async_engine(urls[service], poolclass=NullPool)
            exit_stack.push_async_callback(engine.dispose)
            deployment.engines[service] = engine
        for service in services:
            deployment.clients[service] = await exit_stack.enter_async_context(
                running_service(service, platform, database_url=urls[service]))
        yield deployment


@contextlib.asynccontextmanager
async def nothing_written(deployment: Deployment, service: str, *stats_paths: str) -> AsyncIterator[None]:
    """The block changes no row of ``service``, emits no event and moves none of ``stats_paths``."""
    client = deployment[service]
    events_before = await deployment.event_count(service)
    rows_before = await deployment.row_counts(service)
    stats_before = {p: (await client.get(p)).json() for p in stats_paths}
    yield
    assert await deployment.outbox_count(service) == 0, "an event was written to the outbox"
    assert deployment.bus_records(service) == events_before, "an event was published"
    assert await deployment.row_counts(service) == rows_before
    for path, before in stats_before.items():
        assert (await client.get(path)).json() == before, path


async def open_edition(d: Deployment, **changes: Any) -> dict[str, Any]:
    """``POST /editions`` with a valid body (``changes`` override fields); asserts the 201."""
    response = await d["registration"].post("/editions", json=edition_body(**changes))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def register(d: Deployment, edition_id: str, **changes: Any) -> dict[str, Any]:
    """``POST /delegates`` with a valid body for ``edition_id``; asserts the 201."""
    response = await d["registration"].post("/delegates", json=delegate_body(edition_id, **changes))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
