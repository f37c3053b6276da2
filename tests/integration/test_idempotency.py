"""``Idempotency-Key`` on POST (DESIGN.md §4), against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from devkit.processes import ADMIN_TOKEN
from services.network import models as network_models
from shared.http.idempotency import purge_expired
from tests.support.asgi import post_as_sent
from tests.support.bodies import edition_body, organization_body
from tests.support.deployment import Deployment, deploy
from tests.support.http_checks import assert_problem

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
async def net(postgres_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    async with deploy(postgres_env, tmp_path_factory.mktemp("idem") / "data", ["network", "registration"]) as d:
        yield d


async def test_a_retry_with_the_same_key_and_body_returns_the_first_answer_and_writes_once(net: Deployment) -> None:
    client = net["network"]
    body = organization_body()
    first = await client.post("/organizations", json=body, headers={"Idempotency-Key": "join-1"})
    events = await net.event_count("network")
    retry = await client.post("/organizations", json=body, headers={"Idempotency-Key": "join-1"})
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert await net.scalar("network", "SELECT count(*) FROM organizations WHERE name = :n", n=body["name"]) == 1
    assert await net.event_count("network") == events


async def test_the_same_key_with_another_body_is_a_409_that_changes_nothing(net: Deployment) -> None:
    client = net["network"]
    await client.post("/organizations", json=organization_body(), headers={"Idempotency-Key": "join-2"})
    other = organization_body()
    response = await client.post("/organizations", json=other, headers={"Idempotency-Key": "join-2"})
    assert_problem(response, 409, "idempotency_key_reused")
    assert await net.scalar("network", "SELECT count(*) FROM organizations WHERE name = :n", n=other["name"]) == 0


async def test_concurrent_retries_execute_once(net: Deployment) -> None:
    client = net["registration"]
    body = edition_body(2031)
    responses = await asyncio.gather(*(client.post("/editions", json=body, headers={"Idempotency-Key": "open-31"})
                                       for _ in range(8)))
    created = [r for r in responses if r.status_code == 201]
    assert created and all(r.status_code in (201, 409) for r in responses)
    assert all(r.json().get("code") == "idempotency_in_progress" for r in responses if r.status_code == 409)
    assert len({r.json()["id"] for r in created}) == 1
    assert await net.scalar("registration", "SELECT count(*) FROM editions WHERE year = 2031") == 1


async def test_an_error_is_not_remembered_so_a_corrected_retry_runs(net: Deployment) -> None:
    client = net["network"]
    body = organization_body(country="XX")
    assert (await client.post("/organizations", json=body, headers={"Idempotency-Key": "join-3"})).status_code == 422
    # Same key, same (still wrong) body: evaluated again, not replayed from a store.
    again = await client.post("/organizations", json=body, headers={"Idempotency-Key": "join-3"})
    assert_problem(again, 422, "validation_failed", field="country")
    assert "idempotent-replayed" not in again.headers


async def test_keys_are_scoped_to_the_caller(net: Deployment) -> None:
    client = net["network"]
    body = organization_body()
    mine = await client.post("/organizations", json=body, headers={"Idempotency-Key": "shared-key"})
    theirs = await client.post("/organizations", json=body, headers={"Idempotency-Key": "shared-key",
                                                                     "Authorization": "Bearer network-token"})
    assert mine.status_code == 201
    assert_problem(theirs, 409, "duplicate_organization")  # ran for real, was not replayed


async def test_an_over_long_key_is_a_400(net: Deployment) -> None:
    response = await net["network"].post("/organizations", json=organization_body(),
                                         headers={"Idempotency-Key": "k" * 201})
    assert_problem(response, 400, "invalid_idempotency_key")


# -- the key's outcome is stored in the write's transaction (issue 11) -------------------------------------


async def test_twenty_immediate_retries_after_a_201_all_replay_it(net: Deployment) -> None:
    # The retries leave the moment the 201 is sent, as a real server's client would see it, and are
    # answered before the first request's app goes on after sending (the worst case of a real server).
    client = net["network"]
    body = organization_body()
    headers = {"Idempotency-Key": "join-now"}
    retried = asyncio.Event()
    first, app_task = await post_as_sent(client, "/organizations", json_body=body, headers=headers,
                                         send_returns_after=retried)
    retries = await asyncio.gather(*(post_as_sent(client, "/organizations", json_body=body, headers=headers)
                                     for _ in range(20)))
    retried.set()
    await asyncio.gather(app_task, *(task for _, task in retries))
    assert first.status == 201, first.body
    assert [r.status for r, _ in retries] == [201] * 20, [r.body for r, _ in retries if r.status != 201]
    assert all(r.json() == first.json() and r.headers["idempotent-replayed"] == "true" for r, _ in retries)
    assert await net.scalar("network", "SELECT count(*) FROM organizations WHERE name = :n", n=body["name"]) == 1


async def test_concurrent_requests_with_one_key_write_once_and_all_get_the_201(net: Deployment) -> None:
    client = net["registration"]
    body = edition_body(2032)
    responses = await asyncio.gather(*(client.post("/editions", json=body, headers={"Idempotency-Key": "open-32"})
                                       for _ in range(8)))
    assert [r.status_code for r in responses] == [201] * 8, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 7
    assert await net.scalar("registration", "SELECT count(*) FROM editions WHERE year = 2032") == 1


async def test_the_bearer_scheme_is_case_insensitive_for_the_caller(net: Deployment) -> None:
    client = net["network"]
    body = organization_body()
    first = await client.post("/organizations", json=body, headers={
        "Idempotency-Key": "join-case", "Authorization": "bearer network-token"})
    assert first.status_code == 201, first.text
    for authorization in ("Bearer network-token", "BEARER   network-token  "):
        retry = await client.post("/organizations", json=body, headers={
            "Idempotency-Key": "join-case", "Authorization": authorization})
        assert retry.status_code == 201, retry.text
        assert retry.json() == first.json() and retry.headers["idempotent-replayed"] == "true"


async def test_the_record_keeps_neither_the_token_nor_the_key_and_expires_after_a_day(net: Deployment) -> None:
    client = net["network"]
    key = "join-private-a1b2c3"
    before = datetime.now(UTC)
    first = await client.post("/organizations", json=organization_body(), headers={"Idempotency-Key": key})
    assert first.status_code == 201
    rows = (await _rows(net, "SELECT * FROM idempotency_keys WHERE created_at >= :t", t=before))
    assert len(rows) == 1
    row = rows[0]
    stored = " ".join(str(v) for v in row.values())
    assert key not in stored and ADMIN_TOKEN not in stored and "network-token" not in stored
    assert len(row["key"]) == 64
    assert row["status_code"] == 201 and json.loads(row["response_body"]) == first.json()
    assert row["expires_at"] - row["created_at"] == timedelta(hours=24)


async def test_an_expired_record_is_ignored_and_the_request_runs_again(net: Deployment) -> None:
    client = net["network"]
    body = organization_body()
    before = datetime.now(UTC)
    assert (await client.post("/organizations", json=body, headers={"Idempotency-Key": "join-old"})).status_code == 201
    await _execute(net, "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE created_at >= :t",
                   t=before)
    again = await client.post("/organizations", json=body, headers={"Idempotency-Key": "join-old"})
    assert_problem(again, 409, "duplicate_organization")  # ran for real, was not replayed


async def test_expired_records_are_purged_in_bounded_batches(net: Deployment) -> None:
    table = network_models.platform.idempotency_keys
    engine = net.engines["network"]
    await purge_expired(engine, table)  # what earlier tests left
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(table.insert(), [
            {"key": f"purge-{n:03d}", "request_hash": "0" * 64, "status_code": 201, "response_body": "{}",
             "created_at": now - timedelta(days=2), "expires_at": now - timedelta(days=1)} for n in range(25)])
        await conn.execute(table.insert().values(key="purge-live", request_hash="0" * 64, status_code=201,
                                                 response_body="{}", created_at=now,
                                                 expires_at=now + timedelta(hours=1)))
    assert await purge_expired(engine, table, batch=10, max_batches=2) == 20
    assert await purge_expired(engine, table, batch=10) == 5
    assert await net.scalar("network", "SELECT count(*) FROM idempotency_keys WHERE key LIKE 'purge-%'") == 1


async def test_the_time_to_live_is_a_setting(postgres_env: dict[str, str], tmp_path: Path) -> None:
    async with deploy(postgres_env, tmp_path / "data", ["network"], idempotency_ttl_hours=0.5) as d:
        response = await d["network"].post("/organizations", json=organization_body(),
                                           headers={"Idempotency-Key": "join-ttl"})
        assert response.status_code == 201
        rows = await _rows(d, "SELECT created_at, expires_at FROM idempotency_keys")
        assert [r["expires_at"] - r["created_at"] for r in rows] == [timedelta(minutes=30)]


async def _rows(deployment: Deployment, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with deployment.engines["network"].connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(text(sql), params)]


async def _execute(deployment: Deployment, sql: str, **params: Any) -> None:
    async with deployment.engines["network"].begin() as conn:
        await conn.execute(text(sql), params)
