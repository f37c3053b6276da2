"""The dashboard's batch path (many events, a handful of statements) must count exactly like applying
the same events one by one, and both must equal the counts computed from the final states alone."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from devkit import stack
from services.dashboard.app import SERVICE_DIR
from services.dashboard.consumers import apply_events
from services.dashboard.models import COUNTER_TABLES
from shared.db import bulk
from shared.db.engine import make_engine
from shared.db.migrations import migrate
from shared.events import CloudEvent, new_event
from shared.events.network import OrganizationJoined, OrganizationPrevious, OrganizationUpdated
from shared.events.projects import ProjectAmended, ProjectPrevious, ProjectSigned
from shared.events.registration import DelegatePrevious, DelegateRegistered, DelegateUpdated
from shared.events.types import (
    DelegateCategory,
    DelegateStatus,
    OrganizationKind,
    OrganizationStatus,
    ProjectStatus,
    Sector,
)

pytestmark = pytest.mark.postgres
COUNTRIES = ["MY", "SG", "TH", "ID", "CN", "KE"]


def random_history(rng: random.Random, n: int = 400) -> tuple[list[tuple[CloudEvent, BaseModel]], Counter[Any]]:
    """Events over a few entities (several per entity, in order) and the counts their final states imply."""
    delegates: dict[str, DelegatePrevious] = {}
    projects: dict[str, ProjectPrevious] = {}
    orgs: dict[str, OrganizationPrevious] = {}
    events: list[tuple[CloudEvent, BaseModel]] = []
    for _ in range(n):
        roll = rng.random()
        payload: BaseModel
        if roll < 0.45:
            did = rng.choice([*delegates, str(uuid.uuid4())]) if delegates else str(uuid.uuid4())
            new = DelegatePrevious(country=rng.choice(COUNTRIES), category=DelegateCategory.guest,
                                   status=rng.choice(list(DelegateStatus)))
            common = {"delegate_id": did, "edition_id": "e1", "country": new.country, "category": new.category,
                      "status": new.status}
            payload = (DelegateUpdated(**common, previous=delegates[did]) if did in delegates
                       else DelegateRegistered(**common))
            delegates[did] = new
        elif roll < 0.75:
            pid = rng.choice([*projects, str(uuid.uuid4())]) if projects else str(uuid.uuid4())
            newp = ProjectPrevious(sector=rng.choice(list(Sector)), status=rng.choice(list(ProjectStatus)),
                                   amount_cny=Decimal(rng.randint(1, 10**9)) / 100,
                                   countries=rng.sample(COUNTRIES, rng.randint(1, 3)))
            commonp = {"project_id": pid, "edition_id": "e1", "sector": newp.sector, "status": newp.status,
                       "amount_cny": newp.amount_cny, "currency": "CNY", "countries": newp.countries}
            payload = (ProjectAmended(**commonp, previous=projects[pid]) if pid in projects
                       else ProjectSigned(**commonp))
            projects[pid] = newp
        else:
            oid = rng.choice([*orgs, str(uuid.uuid4())]) if orgs else str(uuid.uuid4())
            newo = OrganizationPrevious(country=rng.choice(COUNTRIES), kind=OrganizationKind.other,
                                        status=rng.choice(list(OrganizationStatus)))
            commono = {"organization_id": oid, "name": "Org", "country": newo.country, "kind": newo.kind,
                       "status": newo.status}
            payload = (OrganizationUpdated(**commono, previous=orgs[oid]) if oid in orgs
                       else OrganizationJoined(**commono))
            orgs[oid] = newo
        subject = next(iter(payload.model_dump().values()))
        events.append((new_event(payload, subject=str(subject)), payload))

    expected: Counter[Any] = Counter()
    for d in delegates.values():
        if d.status in (DelegateStatus.registered, DelegateStatus.checked_in):
            expected["delegate_counts", ("e1", d.country), "registered"] += 1
            expected["delegate_counts", ("e1", d.country), "checked_in"] += d.status == DelegateStatus.checked_in
        expected["delegate_counts", ("e1", d.country), "pending"] += d.status == DelegateStatus.pending
    for p in projects.values():
        if p.status == ProjectStatus.signed:
            fen = int(p.amount_cny * 100)
            expected["project_sector_counts", ("e1", p.sector.value), "signed"] += 1
            expected["project_sector_counts", ("e1", p.sector.value), "amount_fen"] += fen
            for c in set(p.countries):
                expected["project_country_counts", ("e1", c), "projects"] += 1
                expected["project_country_counts", ("e1", c), "amount_fen"] += fen
    for o in orgs.values():
        expected["network_counts", (o.country,), "organizations"] += o.status == OrganizationStatus.active
    return events, +expected


async def counters(engine: AsyncEngine) -> Counter[Any]:
    found: Counter[Any] = Counter()
    async with engine.connect() as conn:
        for name, (table, keys, columns) in COUNTER_TABLES.items():
            for row in (await conn.execute(select(table))).all():
                for column in columns:
                    found[name, tuple(getattr(row, k) for k in keys), column] += getattr(row, column)
    return +found


@pytest.fixture
async def engines(postgres_env: dict[str, str]) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    urls = [(await stack.fresh_databases(postgres_env))["dashboard"] for _ in range(2)]
    for url in urls:
        await migrate(SERVICE_DIR, url)
    batch, single = make_engine(urls[0]), make_engine(urls[1])
    try:
        yield batch, single
    finally:
        await batch.dispose()
        await single.dispose()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_batch_counts_like_one_by_one_and_like_the_final_states(
        engines: tuple[AsyncEngine, AsyncEngine], seed: int) -> None:
    events, expected = random_history(random.Random(seed))
    batch_engine, single_engine = engines
    rng = random.Random(seed)
    position = 0
    while position < len(events):  # batches of random sizes, as the consumer polls them
        size = rng.randint(1, 120)
        async with batch_engine.begin() as conn:
            await apply_events(conn, events[position:position + size])
        position += size
    for event in events:
        async with single_engine.begin() as conn:
            await apply_events(conn, [event])

    assert await counters(batch_engine) == expected
    assert await counters(single_engine) == expected


async def test_an_entity_stored_by_another_replica_meanwhile_fails_the_batch_not_the_count(
        engines: tuple[AsyncEngine, AsyncEngine], monkeypatch: pytest.MonkeyPatch) -> None:
    """Entities a batch did not find are inserted, not upserted. If another replica stored one between the
    batch's read and its insert (partitions move in a rebalance), the batch must fail as a whole — the
    consumer then applies its events one by one — rather than count the entity twice."""
    engine, _ = engines
    did = str(uuid.uuid4())
    common = {"delegate_id": did, "edition_id": "e1", "country": "MY", "category": DelegateCategory.guest}
    registered = DelegateRegistered(**common, status=DelegateStatus.registered)
    cancelled = DelegateUpdated(**common, status=DelegateStatus.cancelled, previous=DelegatePrevious(
        country="MY", category=DelegateCategory.guest, status=DelegateStatus.registered))
    async with engine.begin() as conn:  # the other replica's commit
        await apply_events(conn, [(new_event(registered, subject=did), registered)])
    registered_my = ("delegate_counts", ("e1", "MY"), "registered")
    assert (await counters(engine))[registered_my] == 1

    real_rows_by_key = bulk.rows_by_key
    calls = 0

    async def read_before_the_other_commit(*args: Any, **kwargs: Any) -> list[Any]:
        nonlocal calls
        calls += 1
        return [] if calls == 1 else await real_rows_by_key(*args, **kwargs)

    monkeypatch.setattr(bulk, "rows_by_key", read_before_the_other_commit)
    update: list[tuple[CloudEvent, BaseModel]] = [(new_event(cancelled, subject=did), cancelled)]
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await apply_events(conn, update)
    assert (await counters(engine))[registered_my] == 1  # nothing of the failed batch stayed

    async with engine.begin() as conn:  # the event-by-event retry reads the stored row
        await apply_events(conn, update)
    assert (await counters(engine))[registered_my] == 0
