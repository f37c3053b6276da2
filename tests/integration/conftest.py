"""Integration fixtures: the services in-process (ASGI) against the real PostgreSQL, on the embedded bus.

A :class:`Deployment` is one or more services sharing a data directory (so one embedded log,
``<data_dir>/bus.db``) and a topic prefix, each on its own fresh PostgreSQL database. Modules create
one per module where tests do not need isolation; tests that do (rotation from the first edition,
the replica catching up) create their own with :func:`deploy`.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from tests import stack
from tests.harness import eventually, platform_settings, running_service

PROBLEM = "application/problem+json"

# The topic each producing service writes to (DESIGN.md §3), before the test's prefix.
TOPICS = {"registration": "conference.registration", "projects": "conference.projects",
          "network": "conference.network"}

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
        """The CloudEvents ``service`` published on the embedded log, in append order."""
        conn = sqlite3.connect(self.bus_path, timeout=30)
        try:
            rows = conn.execute('SELECT value FROM records WHERE topic = ? ORDER BY appended_at, partition, "offset"',
                                (self.topic_prefix + TOPICS[service],)).fetchall()
        finally:
            conn.close()
        return [json.loads(bytes(value)) for (value,) in rows]

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


async def _drop_databases(env: Mapping[str, str], urls: Iterable[str]) -> None:
    server = make_url(env["REGISTRATION_DATABASE_URL"]).set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(server.render_as_string(hide_password=False))
    try:
        for url in urls:
            await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def databases(postgres_env: Mapping[str, str]) -> AsyncIterator[dict[str, str]]:
    """Four fresh databases, dropped afterwards."""
    urls = await stack.fresh_databases(dict(postgres_env))
    try:
        yield urls
    finally:
        await _drop_databases(postgres_env, urls.values())


@contextlib.asynccontextmanager
async def deploy(postgres_env: Mapping[str, str], data_dir: Path, services: Sequence[str],
                 urls: dict[str, str] | None = None, **overrides: Any) -> AsyncIterator[Deployment]:
    """``services`` running in-process on fresh databases, sharing one embedded log and topic prefix."""
    async with contextlib.AsyncExitStack() as exit_stack:
        if urls is None:
            urls = await exit_stack.enter_async_context(databases(postgres_env))
        prefix = stack.topic_prefix()
        platform = platform_settings(bus="embedded", data_dir=data_dir, topic_prefix=prefix, **overrides)
        deployment = Deployment(data_dir=data_dir, topic_prefix=prefix, database_urls=urls)
        for service in STATE_TABLES:
            engine = create_async_engine(urls[service], poolclass=NullPool)
            exit_stack.push_async_callback(engine.dispose)
            deployment.engines[service] = engine
        for service in services:
            deployment.clients[service] = await exit_stack.enter_async_context(
                running_service(service, platform, database_url=urls[service]))
        yield deployment


# -- request bodies ---------------------------------------------------------------------------------------


def edition_body(year: int = 2025, **changes: Any) -> dict[str, Any]:
    return {"year": year, "city": "Chongqing", "theme": "Belt and Road, shared future",
            "starts_on": f"{year}-10-20", "ends_on": f"{year}-10-22", **changes}


def delegate_body(edition: str, /, **changes: Any) -> dict[str, Any]:
    return {"edition_id": edition, "full_name": "Tan Wei Ming", "name_zh": "陈伟明", "country": "MY",
            "city": "Kuala Lumpur", "organization": "Federation of Chinese Associations Malaysia",
            "email": f"{uuid.uuid4().hex[:10]}@example.com", "phone": "+60 3-1234 5678",
            "category": "representative", **changes}


def project_body(edition: str, /, **changes: Any) -> dict[str, Any]:
    return {"edition_id": edition, "title": "Chongqing–Kuala Lumpur cold-chain logistics hub",
            "sector": "trade_logistics", "amount": "1250000.00", "currency": "CNY",
            "parties": [{"name": "Chongqing Logistics Group", "country": "CN"},
                        {"name": "Penang Port Sdn Bhd", "country": "MY"}],
            "signed_on": "2025-10-21", **changes}


def organization_body(**changes: Any) -> dict[str, Any]:
    return {"name": f"Chinese Chamber of Commerce {uuid.uuid4().hex[:8]}", "name_zh": "中华总商会",
            "country": "MY", "kind": "chamber_of_commerce", "city": "Kuala Lumpur",
            "website": "https://chamber.example.my", "contact_email": "office@chamber.example.my", **changes}


# -- assertions -------------------------------------------------------------------------------------------


def assert_problem(response: httpx.Response, status: int, code: str, *, field: str | None = None
                   ) -> dict[str, Any]:
    """An RFC 9457 problem with ``status`` and ``code``; for 422, ``errors`` names ``field``."""
    assert response.status_code == status, f"expected {status} {code}, got {response.status_code}: {response.text}"
    assert response.headers["content-type"].split(";")[0] == PROBLEM, response.headers["content-type"]
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status, body
    assert isinstance(body.get("detail"), str) and body["detail"], body
    assert body.get("title"), body
    if field is not None:
        errors = body.get("errors")
        assert isinstance(errors, list) and errors, f"no field errors in {body}"
        named = [e["field"] for e in errors]
        assert any(f == field or f.startswith(field + ".") for f in named), f"{field} not in {named}"
        assert all(e.get("message") for e in errors), errors
    return body


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


async def walk_pages(client: httpx.AsyncClient, path: str, *, limit: int, **params: Any) -> list[dict[str, Any]]:
    """Follow ``next_cursor`` to the end; every page is at most ``limit`` long and no item comes twice."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert page["items"], "a page with a next_cursor must not be empty"
    ids = [i["id"] for i in items]
    assert len(ids) == len(set(ids)), "an item came twice"
    return items


async def assert_no_server_error(client: httpx.AsyncClient, requests: Iterable[tuple[str, str, Any]]) -> None:
    """Each (method, url, body) answers below 500; a 4xx is a problem document."""
    failures = []
    for method, url, body in requests:
        kwargs: dict[str, Any] = {}
        if isinstance(body, bytes | str):
            kwargs["content"] = body
            kwargs["headers"] = {"content-type": "application/json"}
        elif body is not None:
            kwargs["json"] = body
        response = await client.request(method, url, **kwargs)
        if response.status_code >= 500:
            failures.append(f"{method} {url} {body!r} -> {response.status_code} {response.text[:200]}")
        elif response.status_code >= 400:
            ctype = response.headers.get("content-type", "").split(";")[0]
            if ctype != PROBLEM:
                failures.append(f"{method} {url} -> {response.status_code} with content-type {ctype}")
    assert not failures, "\n".join(failures)


# Requests no service should answer with a 5xx.
WEIRD_PATHS: list[tuple[str, str, Any]] = [
    ("GET", "/", None),
    ("GET", "/nope", None),
    ("GET", "//", None),
    ("GET", "/%00", None),
    ("GET", "/stats?edition_id=%00", None),
    ("GET", "/stats?edition_id=" + "x" * 37, None),
    ("GET", "/stats?edition_id=%F0%9F%92%A9", None),
    ("DELETE", "/stats", None),
    ("PUT", "/stats", b"{}"),
    ("GET", "/healthz", None),
    ("GET", "/readyz", None),
    ("GET", "/metrics", None),
    ("GET", "/docs", None),
    ("GET", "/openapi.json", None),
]
