"""Capacity and check-in under real concurrency, on the real PostgreSQL.

Requests are driven with ``asyncio.gather`` through the app (whose engine pool holds up to 20
connections, so transactions truly overlap in the database), and the same use cases are run
directly with many concurrent units of work on a pool of up to 40 connections. A background probe records how
many transactions were waiting on a row lock at once: proof that the database, not the event loop,
did the serialising. Finally the constraints are attacked directly, without the use case.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.registration import service
from services.registration.models import platform
from services.registration.repository import SqlRegistrationUnitOfWork
from services.registration.schemas import CheckInRequest
from shared.db.engine import make_engine
from shared.errors import DomainError
from shared.messaging.outbox import Outbox
from tests.support.bodies import delegate_body, edition_body
from tests.support.deployment import Deployment, deploy
from tests.support.http_checks import assert_problem

pytestmark = pytest.mark.postgres

CAPACITY = 50
CROWD = 200
WITHDRAWALS = 10
CHECKIN = {"Authorization": "Bearer checkin-token"}


@pytest.fixture(scope="module")
async def reg(postgres_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    async with deploy(postgres_env, tmp_path_factory.mktemp("concurrency") / "data", ["registration"]) as d:
        yield d


@pytest.fixture(scope="module")
async def edition(reg: Deployment) -> dict[str, Any]:
    response = await reg["registration"].post("/editions", json=edition_body(2026))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
async def engine(reg: Deployment) -> AsyncIterator[AsyncEngine]:
    """A pool of its own with many connections, for units of work run directly."""
    engine = make_engine(reg.database_urls["registration"], pool_size=40)  # 40 at once
    yield engine
    await engine.dispose()


def new_uow(reg: Deployment, engine: AsyncEngine) -> SqlRegistrationUnitOfWork:
    return SqlRegistrationUnitOfWork(engine, Outbox("registration", platform, reg.topic_prefix))


async def crowd(reg: Deployment, edition: dict[str, Any], n: int) -> list[dict[str, Any]]:
    responses = await asyncio.gather(*(reg["registration"].post("/delegates", json=delegate_body(edition["id"]))
                                       for _ in range(n)))
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201][:3]
    return [r.json() for r in responses]


async def new_forum(reg: Deployment, edition: dict[str, Any], capacity: int = CAPACITY) -> dict[str, Any]:
    response = await reg["registration"].post("/sessions", json={
        "edition_id": edition["id"], "kind": "forum", "title": "Belt and Road green energy forum",
        "capacity": capacity, "starts_at": "2026-10-21T09:00:00+08:00"})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@contextlib.asynccontextmanager
async def lock_wait_probe(reg: Deployment) -> AsyncIterator[dict[str, int]]:
    """Samples pg_stat_activity: the most backends of this database seen waiting on a lock at once."""
    seen = {"max_lock_waiters": 0, "max_active": 0}
    database = await reg.scalar("registration", "SELECT current_database()")

    async def sample() -> None:
        async with reg.engines["registration"].connect() as conn:
            while True:
                row = (await conn.execute(text(
                    "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'), "
                    "count(*) FILTER (WHERE state <> 'idle') FROM pg_stat_activity WHERE datname = :d"),
                    {"d": database})).one()
                await conn.rollback()  # a fresh snapshot of pg_stat_activity next time
                seen["max_lock_waiters"] = max(seen["max_lock_waiters"], int(row[0]))
                seen["max_active"] = max(seen["max_active"], int(row[1]) - 1)  # minus the probe itself
                await asyncio.sleep(0.002)

    task = asyncio.create_task(sample())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def session_rows(reg: Deployment, session_id: str) -> list[tuple[str, str, int | None, int]]:
    async with reg.engines["registration"].connect() as conn:
        rows = (await conn.execute(text(
            "SELECT delegate_id, state, seat, id FROM enrollments WHERE session_id = :s ORDER BY id"),
            {"s": session_id})).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


async def assert_capacity_holds(reg: Deployment, session_id: str, capacity: int) -> tuple[int, int]:
    rows = await session_rows(reg, session_id)
    seats = [seat for _, state, seat, _ in rows if state == "enrolled"]
    waiting = [r for r in rows if r[1] == "waitlisted"]
    assert len(seats) <= capacity and len(seats) == len(set(seats)), seats
    assert all(seat is not None and 1 <= seat <= capacity for seat in seats)
    # Nobody waits while a place is free.
    assert not waiting or len(seats) == capacity
    return len(seats), len(waiting)


def report(label: str, **figures: Any) -> None:
    # Printed for the closing note of the issue (run with -s to see it).
    print(f"\n[concurrency] {label}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


# -- enrolment through the API ------------------------------------------------------------------------------


async def test_200_concurrent_enrolments_fill_50_places_then_10_withdrawals_promote_10(
        reg: Deployment, edition: dict[str, Any]) -> None:
    client = reg["registration"]
    forum = await new_forum(reg, edition)
    people = await crowd(reg, edition, CROWD)
    path = f"/sessions/{forum['id']}/enrollments"

    started = time.perf_counter()
    async with lock_wait_probe(reg) as probe:
        responses = await asyncio.gather(*(client.post(path, json={"delegate_id": p["id"]}) for p in people))
    elapsed = time.perf_counter() - started
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201][:3]
    answers = [r.json() for r in responses]
    states = Counter(a["state"] for a in answers)
    assert states == {"enrolled": CAPACITY, "waitlisted": CROWD - CAPACITY}
    assert sorted(a["position"] for a in answers if a["state"] == "waitlisted") == list(range(1, CROWD - CAPACITY + 1))
    assert all(a["enrolled"] <= CAPACITY for a in answers)
    assert await assert_capacity_holds(reg, forum["id"], CAPACITY) == (CAPACITY, CROWD - CAPACITY)
    figures = (await client.get(f"/sessions/{forum['id']}")).json()
    assert (figures["enrolled"], figures["waitlisted"], figures["available"]) == (CAPACITY, CROWD - CAPACITY, 0)
    # The database, not the event loop, serialised them: transactions queued on the session's row lock.
    assert probe["max_lock_waiters"] >= 2, probe
    report("API enrolments", requests=CROWD, enrolled=states["enrolled"], waitlisted=states["waitlisted"],
           max_lock_waiters=probe["max_lock_waiters"], max_active=probe["max_active"], seconds=f"{elapsed:.2f}")

    # Ten of the enrolled withdraw at once: exactly the first ten of the queue move up.
    queue = [delegate for delegate, state, _, _ in await session_rows(reg, forum["id"]) if state == "waitlisted"]
    leaving = [a["delegate_id"] for a in answers if a["state"] == "enrolled"][:WITHDRAWALS]
    withdrawals = await asyncio.gather(*(client.delete(f"{path}/{d}") for d in leaving))
    assert all(r.status_code == 200 for r in withdrawals), [r.text for r in withdrawals]
    promoted = [r.json()["promoted_delegate_id"] for r in withdrawals]
    assert sorted(promoted) == sorted(queue[:WITHDRAWALS])
    assert await assert_capacity_holds(reg, forum["id"], CAPACITY) == (CAPACITY, CROWD - CAPACITY - WITHDRAWALS)
    report("API withdrawals", withdrawals=WITHDRAWALS, promoted=len(set(promoted)),
           promoted_first_in_queue=sorted(promoted) == sorted(queue[:WITHDRAWALS]))

    # The events tell the same story, and none ever shows more enrolled than places.
    events = [e for e in reg.bus_events("registration") if e["subject"] == forum["id"]] \
        if await reg.event_count("registration") else []
    reasons = Counter((e["data"]["state"], e["data"]["reason"]) for e in events)
    assert reasons == {("enrolled", "requested"): CAPACITY, ("waitlisted", "requested"): CROWD - CAPACITY,
                       ("withdrawn", "withdrawn"): WITHDRAWALS, ("enrolled", "promoted"): WITHDRAWALS}
    assert max(e["data"]["enrolled"] for e in events) == CAPACITY


# -- the same use cases, run directly with many concurrent units of work ------------------------------------


async def test_the_use_case_itself_never_overbooks_on_40_connections(
        reg: Deployment, edition: dict[str, Any], engine: AsyncEngine) -> None:
    forum = await new_forum(reg, edition)
    people = await crowd(reg, edition, CROWD)

    async with lock_wait_probe(reg) as probe:
        results = await asyncio.gather(*(service.enroll(uow=new_uow(reg, engine), session_id=forum["id"],
                                                        delegate_id=p["id"]) for p in people))
    assert all(created for _, created in results)
    states = Counter(answer.state.value for answer, _ in results)
    assert states == {"enrolled": CAPACITY, "waitlisted": CROWD - CAPACITY}
    assert await assert_capacity_holds(reg, forum["id"], CAPACITY) == (CAPACITY, CROWD - CAPACITY)
    assert probe["max_lock_waiters"] >= 5, probe

    enrolled = [answer.delegate_id for answer, _ in results if answer.state.value == "enrolled"]
    queue = [d for d, state, _, _ in await session_rows(reg, forum["id"]) if state == "waitlisted"]
    outcomes = await asyncio.gather(*(service.withdraw(uow=new_uow(reg, engine), session_id=forum["id"],
                                                       delegate_id=d) for d in enrolled[:WITHDRAWALS]))
    assert sorted(o.promoted_delegate_id or "" for o in outcomes) == sorted(queue[:WITHDRAWALS])
    assert await assert_capacity_holds(reg, forum["id"], CAPACITY) == (CAPACITY, CROWD - CAPACITY - WITHDRAWALS)
    report("direct units of work", enrolments=CROWD, enrolled=states["enrolled"], waitlisted=states["waitlisted"],
           max_lock_waiters=probe["max_lock_waiters"], promoted=len(outcomes))


async def test_enrolments_withdrawals_and_cancellations_racing_never_overbook_nor_deadlock(
        reg: Deployment, edition: dict[str, Any], engine: AsyncEngine) -> None:
    """Every use case that touches places, at once, on two sessions: each finishes (no deadlock,
    thanks to one lock order) and both sessions end full with a consistent queue."""
    capacity = 10
    forums = [await new_forum(reg, edition, capacity) for _ in range(2)]
    people = await crowd(reg, edition, 60)
    for p in people[:30]:  # a first wave in both sessions
        for f in forums:
            await service.enroll(uow=new_uow(reg, engine), session_id=f["id"], delegate_id=p["id"])

    async def run(call: Callable[[], Awaitable[Any]]) -> str:
        try:
            await call()
            return "ok"
        except DomainError as exc:
            return exc.code

    def later(use_case: Callable[..., Awaitable[Any]], **arguments: Any) -> Callable[[], Awaitable[Any]]:
        """``use_case`` called, on a unit of work of its own, when the returned function is."""
        return lambda: use_case(uow=new_uow(reg, engine), **arguments)

    calls: list[Callable[[], Awaitable[Any]]] = []
    for p in people[30:]:
        for f in forums:
            calls.append(later(service.enroll, session_id=f["id"], delegate_id=p["id"]))
    for p in people[:8]:
        calls.append(later(service.cancel_delegate, delegate_id=p["id"]))
    for p in people[8:14]:
        calls.append(later(service.withdraw, session_id=forums[0]["id"], delegate_id=p["id"]))
    for p in people[30:36]:  # cancelled while (perhaps) enrolling
        calls.append(later(service.cancel_delegate, delegate_id=p["id"]))
    outcomes = Counter(await asyncio.wait_for(asyncio.gather(*(run(c) for c in calls)), timeout=60))
    assert set(outcomes) <= {"ok", "delegate_cancelled"}, outcomes

    cancelled = {p["id"] for p in people[:8] + people[30:36]}
    for f in forums:
        enrolled, waiting = await assert_capacity_holds(reg, f["id"], capacity)
        assert enrolled == capacity
        holders = {d for d, _, _, _ in await session_rows(reg, f["id"])}
        assert not holders & cancelled, "a cancelled delegate still holds a place"
        figures = (await reg["registration"].get(f"/sessions/{f['id']}")).json()
        assert (figures["enrolled"], figures["waitlisted"]) == (enrolled, waiting)
    report("mixed race", calls=len(calls), outcomes=dict(outcomes))


async def test_the_database_refuses_overbooking_without_the_use_case(reg: Deployment, edition: dict[str, Any]
                                                                     ) -> None:
    """The seat constraints hold even for code that skips the row lock and the rules."""
    forum = await new_forum(reg, edition, capacity=2)
    a, b, c = await crowd(reg, edition, 3)
    insert = ("INSERT INTO enrollments (session_id, session_capacity, delegate_id, state, seat, requested_at) "
              "VALUES (:s, :cap, :d, :state, :seat, now())")
    engine = reg.engines["registration"]

    async def attempt(sql: str, **params: Any) -> None:
        async with engine.begin() as conn:
            await conn.execute(text(sql), params)

    await attempt(insert, s=forum["id"], cap=2, d=a["id"], state="enrolled", seat=1)
    await attempt(insert, s=forum["id"], cap=2, d=b["id"], state="enrolled", seat=2)
    for params in [
        {"cap": 2, "d": c["id"], "state": "enrolled", "seat": 3},      # beyond capacity
        {"cap": 2, "d": c["id"], "state": "enrolled", "seat": 1},      # a taken seat
        {"cap": 3, "d": c["id"], "state": "enrolled", "seat": 3},      # lying about the capacity
        {"cap": 2, "d": c["id"], "state": "waitlisted", "seat": 3},    # waiting with a seat
        {"cap": 2, "d": c["id"], "state": "enrolled", "seat": None},   # enrolled without one
        {"cap": 2, "d": a["id"], "state": "waitlisted", "seat": None},  # twice in one session
    ]:
        with pytest.raises(IntegrityError):
            await attempt(insert, s=forum["id"], **params)
    # Shrinking the session below the seats in use is refused too (the capacity cascades).
    with pytest.raises(IntegrityError):
        await attempt("UPDATE sessions SET capacity = 1 WHERE id = :s", s=forum["id"])
    with pytest.raises(IntegrityError):
        await attempt("UPDATE sessions SET capacity = 0 WHERE id = :s", s=forum["id"])
    assert (await reg["registration"].get(f"/sessions/{forum['id']}")).json()["enrolled"] == 2


# -- check-in -----------------------------------------------------------------------------------------------


async def test_20_concurrent_scans_of_one_badge_check_in_once(reg: Deployment, edition: dict[str, Any]) -> None:
    client = reg["registration"]
    [delegate] = await crowd(reg, edition, 1)
    stats_path = f"/stats?edition_id={edition['id']}"
    checked_before = (await client.get(stats_path)).json()["delegates"]["checked_in"]

    async with lock_wait_probe(reg) as probe:
        responses = await asyncio.gather(*(client.post("/check-ins", json={"badge_code": delegate["badge_code"]},
                                                       headers=CHECKIN) for _ in range(20)))
    codes = Counter(r.status_code for r in responses)
    assert codes == {200: 1, 409: 19}, codes
    [ok] = [r.json() for r in responses if r.status_code == 200]
    for refused in (r for r in responses if r.status_code == 409):
        body = assert_problem(refused, 409, "already_checked_in")
        assert body["checked_in_at"] == ok["checked_in_at"]
    assert (await client.get(stats_path)).json()["delegates"]["checked_in"] == checked_before + 1
    await reg.event_count("registration")
    scans = [e for e in reg.bus_events("registration")
             if e["subject"] == delegate["id"] and e["type"].endswith("delegate_checked_in.v1")]
    assert len(scans) == 1
    report("API scans", scans=20, ok=codes[200], already_checked_in=codes[409],
           max_lock_waiters=probe["max_lock_waiters"])


async def test_20_concurrent_check_ins_as_units_of_work(reg: Deployment, edition: dict[str, Any],
                                                        engine: AsyncEngine) -> None:
    [delegate] = await crowd(reg, edition, 1)

    async def one() -> str:
        try:
            await service.check_in(uow=new_uow(reg, engine), request=CheckInRequest(badge_code=delegate["badge_code"]))
            return "checked_in"
        except DomainError as exc:
            return exc.code

    outcomes = Counter(await asyncio.gather(*(one() for _ in range(20))))
    assert outcomes == {"checked_in": 1, "already_checked_in": 19}, outcomes
    report("direct scans", scans=20, outcomes=dict(outcomes))
