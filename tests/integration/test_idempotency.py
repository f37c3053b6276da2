"""``Idempotency-Key`` on POST (DESIGN.md §4), against the real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

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
