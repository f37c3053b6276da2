"""A delegate's personal data erased on request or by retention, every count kept (issue 15 part 1; real
PostgreSQL, the embedded log, the dashboard consuming it)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from devkit.waiting import eventually
from services.registration import service
from services.registration.models import metadata, platform
from services.registration.repository import SqlRegistrationUnitOfWork
from shared.messaging.outbox import Outbox
from tests.support.deployment import Deployment, deploy, open_edition, register
from tests.support.http_checks import assert_problem

pytestmark = pytest.mark.postgres
SECRET = "integration-personal-link-secret-0123456789"
ERASED = "conference.registration.delegate_erased.v1"


@pytest.fixture(scope="module")
async def d(postgres_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    async with deploy(postgres_env, tmp_path_factory.mktemp("erasure") / "data", ["registration", "dashboard"],
                      personal_link_secret=SECRET) as d:
        yield d


async def everything_stored(d: Deployment) -> str:
    """Every row of every registration table, as text (payloads decoded)."""
    parts: list[str] = []
    async with d.engines["registration"].connect() as conn:
        for table in metadata.sorted_tables:
            for row in (await conn.execute(select(table))).all():
                parts += [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row]
    return "\n".join(parts)


async def figures(d: Deployment, edition_id: str) -> dict[str, Any]:
    async def agree() -> dict[str, Any]:
        stats = (await d["registration"].get("/stats", params={"edition_id": edition_id})).json()["delegates"]
        totals = (await d["dashboard"].get("/totals", params={"edition_id": edition_id})).json()["delegates"]
        assert totals == stats
        return dict(stats)
    return await eventually(agree, timeout=20)


async def test_an_erased_delegate_leaves_no_personal_data_and_every_count_stays(d: Deployment) -> None:
    edition = await open_edition(d)
    marker = uuid.uuid4().hex[:8]
    name, email, phone = f"Erasable Person {marker}", f"erase.{marker}@example.org", "+60 3-9876 5432"
    response = await d["registration"].post("/delegates", headers={"Idempotency-Key": f"erase-{marker}"}, json={
        "edition_id": edition["id"], "full_name": name, "name_zh": "林抹除", "country": "MY", "email": email,
        "phone": phone, "organization": f"Org {marker}", "city": f"City {marker}", "category": "representative",
        "listed_publicly": True})
    assert response.status_code == 201, response.text
    delegate = response.json()
    await register(d, edition["id"], country="SG")
    scan = {"nonce": uuid.uuid4().hex, "badge_code": delegate["badge_code"],
            "scanned_at": datetime.now(UTC).isoformat()}
    scanned = await d["registration"].post("/check-ins/batch", json={"device_id": "gate", "scans": [scan]})
    assert scanned.status_code == 200, scanned.text
    before = await figures(d, edition["id"])
    assert before["checked_in"] == 1
    secrets = (name, email, phone, f"Org {marker}", f"City {marker}", delegate["badge_code"], "林抹除")
    stored = await everything_stored(d)
    assert all(s in stored for s in (name, email, delegate["badge_code"]))  # the search can find them

    link = (await d["registration"].get(f"/delegates/{delegate['id']}/personal-link")).json()["token"]
    erased = await d["registration"].post(f"/delegates/{delegate['id']}/erase", params={"token": link},
                                          headers={"Authorization": ""})
    assert erased.status_code == 200, erased.text
    assert erased.json()["status"] == "checked_in"
    again = await d["registration"].post(f"/delegates/{delegate['id']}/erase")
    assert again.json() == erased.json()

    stored = await everything_stored(d)
    assert [s for s in secrets if s in stored] == []
    export = (await d["registration"].get("/delegates/export.csv", params={"edition_id": edition["id"]})).text
    assert [s for s in secrets if s in export] == []

    async def announced_once() -> list[dict[str, Any]]:
        found = [e for e in d.bus_events("registration") if e["type"] == ERASED and e["subject"] == delegate["id"]]
        assert len(found) == 1
        return found
    await eventually(announced_once, timeout=20)
    published = str(d.bus_events("registration"))
    assert [s for s in secrets if s in published] == []
    assert await figures(d, edition["id"]) == before

    # Closed: no badge, no change, the old badge code opens nothing, a retried POST answers the tombstone.
    assert_problem(await d["registration"].get(f"/delegates/{delegate['id']}/badge.pdf"), 409, "delegate_erased")
    assert_problem(await d["registration"].patch(f"/delegates/{delegate['id']}", json={"city": "Chengdu"}),
                   409, "delegate_erased")
    assert_problem(await d["registration"].post("/check-ins", json={"badge_code": delegate["badge_code"]}),
                   404, "badge_not_found")
    shown = (await d["registration"].get(f"/delegates/{delegate['id']}")).json()
    assert shown["full_name"] == "[erased]" and shown["email"] != email and shown["country"] == "MY"
    anonymous = await d["registration"].get(f"/delegates/{delegate['id']}", headers={"Authorization": ""})
    assert anonymous.status_code == 404  # no longer listed publicly


async def test_only_a_registrar_or_the_delegate_may_erase(d: Deployment) -> None:
    edition = await open_edition(d)
    one, other = await register(d, edition["id"]), await register(d, edition["id"])
    link = (await d["registration"].get(f"/delegates/{other['id']}/personal-link")).json()["token"]
    path = f"/delegates/{one['id']}/erase"
    assert_problem(await d["registration"].post(path, headers={"Authorization": ""}), 401, "unauthenticated")
    assert_problem(await d["registration"].post(path, params={"token": link}, headers={"Authorization": ""}),
                   403, "forbidden")
    assert_problem(await d["registration"].post(path, headers={"Authorization": "Bearer checkin-token"}),
                   403, "forbidden")
    assert_problem(await d["registration"].post(f"/delegates/{uuid.uuid4()}/erase"), 404, "delegate_not_found")


async def test_retention_erases_the_delegates_of_editions_long_over(d: Deployment) -> None:
    old = await open_edition(d, year=2025, starts_on="2025-06-01", ends_on="2025-06-03")
    current = await open_edition(d, year=2027, starts_on="2027-06-01", ends_on="2027-06-03")
    gone, kept = await register(d, old["id"]), await register(d, current["id"])
    before = await figures(d, old["id"])
    outbox = Outbox("registration", platform, d.topic_prefix)
    erased = await service.erase_expired(lambda: SqlRegistrationUnitOfWork(d.engines["registration"], outbox),
                                         retention_days=30, now=datetime.now(UTC))
    assert erased >= 1
    assert (await d["registration"].get(f"/delegates/{gone['id']}")).json()["full_name"] == "[erased]"
    assert (await d["registration"].get(f"/delegates/{kept['id']}")).json()["full_name"] == kept["full_name"]
    assert await figures(d, old["id"]) == before
    again = await service.erase_expired(lambda: SqlRegistrationUnitOfWork(d.engines["registration"], outbox),
                                        retention_days=30, now=datetime.now(UTC))
    assert again == 0
