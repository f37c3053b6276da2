"""Scanner devices check delegates in offline and upload later (issue 14 part 4; real PostgreSQL, the
embedded log, the dashboard consuming it)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devkit.waiting import eventually
from tests.support.deployment import Deployment, deploy, open_edition, register
from tests.support.http_checks import assert_problem

pytestmark = pytest.mark.postgres
CHECKIN = {"Authorization": "Bearer checkin-token"}
CHECKED_IN = "conference.registration.delegate_checked_in.v1"


@pytest.fixture(scope="module")
async def d(postgres_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    async with deploy(postgres_env, tmp_path_factory.mktemp("offline") / "data", ["registration", "dashboard"]) as d:
        yield d


def scan(badge_code: str, scanned_at: datetime, **changes: Any) -> dict[str, Any]:
    return {"nonce": uuid.uuid4().hex, "badge_code": badge_code, "scanned_at": scanned_at.isoformat(), **changes}


async def upload(d: Deployment, device: str, scans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = await d["registration"].post("/check-ins/batch", json={"device_id": device, "scans": scans},
                                            headers=CHECKIN)
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    assert [r["nonce"] for r in results] == [s["nonce"] for s in scans]
    return results


async def test_three_devices_with_overlapping_scans_check_each_delegate_in_once(d: Deployment) -> None:
    edition = await open_edition(d)
    delegates = [await register(d, edition["id"]) for _ in range(100)]
    rng = random.Random(14)
    start = datetime.now(UTC) - timedelta(hours=2)
    devices: dict[str, list[dict[str, Any]]] = {}
    for device in ("hall-a", "hall-b", "gate"):  # 200 scans each: every delegate twice, in random order
        badges = [x["badge_code"] for x in delegates] * 2
        rng.shuffle(badges)
        devices[device] = [scan(b, start + timedelta(seconds=rng.randrange(7200))) for b in badges]
    earliest = {b: min(datetime.fromisoformat(s["scanned_at"]) for ss in devices.values() for s in ss
                       if s["badge_code"] == b) for b in (x["badge_code"] for x in delegates)}
    # Each device uploads its two halves, all three devices at once.
    batches = [(device, scans[:100]) for device, scans in devices.items()]
    batches += [(device, scans[100:]) for device, scans in devices.items()]
    answers = await asyncio.gather(*(upload(d, device, scans) for device, scans in batches))
    results = [r for answer in answers for r in answer]
    assert Counter(r["result"] for r in results) == {"ok": 100, "already_checked_in": 500}
    assert Counter(r["delegate_id"] for r in results if r["result"] == "ok") == {x["id"]: 1 for x in delegates}

    for delegate in delegates:  # checked in once, at the earliest scan of all devices
        shown = (await d["registration"].get(f"/delegates/{delegate['id']}")).json()
        assert shown["status"] == "checked_in"
        assert datetime.fromisoformat(shown["checked_in_at"]) == earliest[delegate["badge_code"]]

    async def published() -> Counter[str]:
        count = Counter(e["subject"] for e in d.bus_events("registration") if e["type"] == CHECKED_IN)
        assert sum(count.values()) >= 100
        return count
    assert await eventually(published, timeout=20) == {x["id"]: 1 for x in delegates}

    async def exact() -> bool:
        stats = (await d["registration"].get("/stats", params={"edition_id": edition["id"]})).json()["delegates"]
        totals = (await d["dashboard"].get("/totals", params={"edition_id": edition["id"]})).json()["delegates"]
        assert stats["checked_in"] == 100 and totals == stats
        return True
    await eventually(exact, timeout=20)

    # The same uploads again: nothing changes, every scan answers what it got the first time.
    events_before = len(d.bus_events("registration"))
    again = await asyncio.gather(*(upload(d, device, scans) for device, scans in batches))
    assert again == answers
    assert await d.outbox_count("registration") == 0 and len(d.bus_events("registration")) == events_before


async def test_each_scan_says_what_it_came_to(d: Deployment) -> None:
    edition = await open_edition(d)
    other = await open_edition(d, year=2026, starts_on="2026-10-20", ends_on="2026-10-22")
    ok, cancelled = await register(d, edition["id"]), await register(d, edition["id"])
    assert (await d["registration"].post(f"/delegates/{cancelled['id']}/cancel")).status_code == 200
    now = datetime.now(UTC) - timedelta(minutes=5)
    scans = [scan(ok["badge_code"], now), scan(ok["badge_code"], now + timedelta(seconds=30)),
             scan("no-such-badge", now), scan(cancelled["badge_code"], now),
             scan(ok["badge_code"], now, edition_id=other["id"])]
    results = await upload(d, "desk-1", scans)
    assert [r["result"] for r in results] == ["ok", "already_checked_in", "unknown", "cancelled", "wrong_edition"]
    assert results[2]["delegate_id"] is None

    # A device that was offline longer brings an earlier scan: the check-in moves back to it, announced as an
    # update, not as a second check-in.
    earlier = await upload(d, "desk-2", [scan(ok["badge_code"], now - timedelta(minutes=3))])
    assert earlier[0]["result"] == "already_checked_in"
    assert datetime.fromisoformat(earlier[0]["checked_in_at"]) == now - timedelta(minutes=3)

    async def updated() -> bool:
        kinds = [e["type"] for e in d.bus_events("registration") if e.get("subject") == ok["id"]]
        assert kinds[-2:] == [CHECKED_IN, "conference.registration.delegate_updated.v1"], kinds
        return True
    await eventually(updated, timeout=20)


async def test_bad_uploads_are_refused_whole(d: Deployment) -> None:
    client = d["registration"]
    now = datetime.now(UTC)
    one = scan("badge", now)
    for body, field in [({"device_id": "x", "scans": []}, "scans"),
                        ({"device_id": "x", "scans": [one, one]}, "body"),
                        ({"device_id": "x", "scans": [scan("badge", now + timedelta(hours=1))]}, "body"),
                        ({"device_id": "x", "scans": [{**one, "nonce": "short"}]}, "scans.0.nonce")]:
        assert_problem(await client.post("/check-ins/batch", json=body, headers=CHECKIN), 422, "validation_failed",
                       field=field)
    assert_problem(await client.post("/check-ins/batch", json={"device_id": "x", "scans": [one]},
                                     headers={"Authorization": "Bearer registrar-token"}), 403, "forbidden")
