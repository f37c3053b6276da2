"""Delegations register themselves with invitation codes, and registrars approve or reject them (issue 14
parts 1 and 2; real PostgreSQL, the embedded log, the dashboard consuming it)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from devkit.waiting import eventually
from tests.support.bodies import edition_body
from tests.support.deployment import Deployment, deploy, open_edition
from tests.support.http_checks import assert_problem
from tests.support.inprocess import platform_settings, running_service

pytestmark = pytest.mark.postgres
SECRET = "integration-personal-link-secret-0123456789"
ANONYMOUS = {"Authorization": ""}
REGISTRAR = {"Authorization": "Bearer registrar-token"}


@pytest.fixture(scope="module")
async def reg(postgres_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    # A generous rate limit: these tests register many delegates from one address (the limit has its own test).
    async with deploy(postgres_env, tmp_path_factory.mktemp("invitations") / "data", ["registration", "dashboard"],
                      personal_link_secret=SECRET, public_rate_limit="1000/minute") as d:
        yield d


def _in(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def invite(d: Deployment, edition_id: str, **changes: Any) -> dict[str, Any]:
    response = await d["registration"].post("/invitations", headers=REGISTRAR, json={
        "edition_id": edition_id, "label": "Malaysian delegation", "seats": 5, "expires_at": _in(30),
        "country": "MY", **changes})
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def self_registration(code: str, **changes: Any) -> dict[str, Any]:
    return {"invitation_code": code, "full_name": "Tan Wei Ming", "name_zh": "陈伟明", "country": "MY",
            "email": f"{uuid.uuid4().hex[:10]}@example.com", **changes}


async def register_self(client: httpx.AsyncClient, code: str, **changes: Any) -> httpx.Response:
    return await client.post("/registrations", json=self_registration(code, **changes), headers=ANONYMOUS)


async def invitation(d: Deployment, invitation_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await d["registration"].get(f"/invitations/{invitation_id}")).json()
    return body


async def dashboard_agrees(d: Deployment, edition_id: str) -> dict[str, Any]:
    """The dashboard's delegate figures once they equal the registration service's own."""
    expected = (await d["registration"].get("/stats", params={"edition_id": edition_id})).json()["delegates"]

    async def check() -> dict[str, Any]:
        totals = (await d["dashboard"].get("/totals", params={"edition_id": edition_id})).json()["delegates"]
        assert totals == expected
        return dict(totals)
    return await eventually(check, timeout=20)


async def test_a_delegate_registers_with_a_code_and_counts_once_approved(reg: Deployment) -> None:
    edition = await open_edition(reg)
    code = (await invite(reg, edition["id"], organization="Federation of Chinese Associations Malaysia"))["code"]
    response = await register_self(reg["registration"], code)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    delegate, link = body["delegate"], body["personal_link"]
    assert delegate["status"] == "pending" and delegate["badge_code"] is None
    assert delegate["organization"] == "Federation of Chinese Associations Malaysia"  # the invitation's
    assert (await dashboard_agrees(reg, edition["id"])) == {"registered": 0, "checked_in": 0, "countries": 0,
                                                            "pending": 1}
    # Pending: neither a badge nor a check-in yet.
    badge = f"/delegates/{delegate['id']}/badge.pdf"
    assert_problem(await reg["registration"].get(badge, params={"token": link["token"]}, headers=ANONYMOUS),
                   409, "not_approved")
    badge_code = (await reg["registration"].get(f"/delegates/{delegate['id']}")).json()["badge_code"]
    scan = await reg["registration"].post("/check-ins", json={"badge_code": badge_code},
                                          headers={"Authorization": "Bearer checkin-token"})
    assert_problem(scan, 409, "not_approved")

    approved = await reg["registration"].post(f"/delegates/{delegate['id']}/approve", headers=REGISTRAR)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "registered" and approved.json()["decided_at"] is not None
    assert (await dashboard_agrees(reg, edition["id"])) == {"registered": 1, "checked_in": 0, "countries": 1,
                                                            "pending": 0}
    opened = await reg["registration"].get(badge, params={"token": link["token"]}, headers=ANONYMOUS)
    assert opened.status_code == 200 and opened.headers["content-type"] == "application/pdf"
    assert_problem(await reg["registration"].post(f"/delegates/{delegate['id']}/approve", headers=REGISTRAR),
                   409, "not_pending")
    types = [e["type"] for e in reg.bus_events("registration") if e.get("subject") == delegate["id"]]
    assert types == ["conference.registration.delegate_registered.v1",
                     "conference.registration.delegate_approved.v1"]


async def test_a_rejection_keeps_its_reason_and_gives_the_seat_back(reg: Deployment) -> None:
    edition = await open_edition(reg)
    invited = await invite(reg, edition["id"], seats=1)
    first = (await register_self(reg["registration"], invited["code"])).json()["delegate"]
    assert_problem(await register_self(reg["registration"], invited["code"]), 409, "invitation_full")

    rejected = await reg["registration"].post(f"/delegates/{first['id']}/reject", headers=REGISTRAR,
                                              json={"reason": "Not a member of the delegation"})
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["rejection_reason"] == "Not a member of the delegation"
    assert (await invitation(reg, invited["id"]))["remaining"] == 1
    # The reason stays here: the event carries no free text.
    async def published() -> list[dict[str, Any]]:
        found = [e for e in reg.bus_events("registration")
                 if e["type"] == "conference.registration.delegate_rejected.v1" and e["subject"] == first["id"]]
        assert found
        return found
    assert "Not a member" not in str(await eventually(published, timeout=20))
    # An anonymous caller never sees it; the seat serves someone else; the rejected one stays closed.
    shown = await reg["registration"].get(f"/delegates/{first['id']}", headers=ANONYMOUS)
    assert shown.status_code == 404
    assert (await register_self(reg["registration"], invited["code"])).status_code == 201
    assert_problem(await reg["registration"].post(f"/delegates/{first['id']}/cancel", headers=REGISTRAR),
                   409, "registration_rejected")
    assert (await dashboard_agrees(reg, edition["id"]))["pending"] == 1


async def test_bad_codes_are_refused_and_take_no_seat(reg: Deployment) -> None:
    edition = await open_edition(reg)
    invited = await invite(reg, edition["id"], seats=2)
    client = reg["registration"]
    assert_problem(await register_self(client, "no-such-code"), 422, "unknown_invitation")
    assert_problem(await register_self(client, invited["code"], country="SG"), 422, "wrong_delegation")
    taken = self_registration(invited["code"])
    assert (await client.post("/registrations", json=taken, headers=ANONYMOUS)).status_code == 201
    assert_problem(await client.post("/registrations", json=taken, headers=ANONYMOUS), 409, "duplicate_email")
    assert (await invitation(reg, invited["id"]))["used"] == 1  # only the one registration took a seat
    async with reg.engines["registration"].begin() as conn:
        await conn.execute(text("UPDATE invitations SET expires_at = now() - interval '1 minute' WHERE id = :i"),
                           {"i": invited["id"]})
    assert_problem(await register_self(client, invited["code"]), 409, "invitation_expired")
    assert_problem(await register_self(client, invited["code"], staff_field=True), 422, "validation_failed",
                   field="staff_field")


async def test_fifty_parallel_uses_of_a_ten_seat_code_register_ten(reg: Deployment) -> None:
    edition = await open_edition(reg)
    invited = await invite(reg, edition["id"], seats=10)
    answers = await asyncio.gather(*(register_self(reg["registration"], invited["code"]) for _ in range(50)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] * 10 + [409] * 40, statuses
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"invitation_full"}
    assert (await invitation(reg, invited["id"]))["used"] == 10
    assert await reg.scalar("registration", "SELECT count(*) FROM delegates WHERE invitation_id = :i",
                            i=invited["id"]) == 10
    assert (await dashboard_agrees(reg, edition["id"]))["pending"] == 10


async def test_invitations_are_for_registrars(reg: Deployment) -> None:
    edition = await open_edition(reg)
    body = {"edition_id": edition["id"], "label": "Delegation", "seats": 1, "expires_at": _in(1)}
    client = reg["registration"]
    assert_problem(await client.post("/invitations", json=body, headers=ANONYMOUS), 401, "unauthenticated")
    assert_problem(await client.post("/invitations", json=body, headers={"Authorization": "Bearer checkin-token"}),
                   403, "forbidden")
    assert_problem(await client.get("/invitations", headers=ANONYMOUS), 401, "unauthenticated")
    assert_problem(await client.post("/invitations", json={**body, "expires_at": _in(-1)}, headers=REGISTRAR),
                   422, "invalid_invitation")
    assert_problem(await client.post("/invitations", json={**body, "edition_id": str(uuid.uuid4())},
                                     headers=REGISTRAR), 422, "unknown_edition")
    assert_problem(await client.post(f"/delegates/{uuid.uuid4()}/approve", headers=ANONYMOUS), 401, "unauthenticated")
    listed = (await client.get("/invitations", params={"edition_id": edition["id"]}, headers=REGISTRAR)).json()
    assert listed["items"] == []


async def test_self_registration_is_rate_limited_per_client(postgres_env: dict[str, str],
                                                           tmp_path_factory: pytest.TempPathFactory) -> None:
    async with deploy(postgres_env, tmp_path_factory.mktemp("limited") / "data", ["registration"],
                      personal_link_secret=SECRET, public_rate_limit="3/minute") as d:
        edition = await open_edition(d)
        code = (await invite(d, edition["id"]))["code"]
        # Refused attempts count too: a client guessing codes is slowed down the same.
        assert (await register_self(d["registration"], "guess-1")).status_code == 422
        assert (await register_self(d["registration"], code)).status_code == 201
        assert (await register_self(d["registration"], code)).status_code == 201
        limited = await register_self(d["registration"], code)
        assert_problem(limited, 429, "rate_limited")
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert (await d["registration"].get("/stats")).json()["delegates"]["pending"] == 2


async def test_the_embedded_default_never_oversells_either(tmp_path: Path) -> None:
    platform = platform_settings(bus="embedded", data_dir=tmp_path / "data", topic_prefix="",
                                 personal_link_secret=SECRET, public_rate_limit="1000/minute")
    async with running_service("registration", platform) as client:  # SQLite and the embedded log
        edition = (await client.post("/editions", json=edition_body())).json()
        invited = (await client.post("/invitations", json={
            "edition_id": edition["id"], "label": "Singapore delegation", "seats": 5, "expires_at": _in(1),
            "country": "SG"})).json()
        answers = await asyncio.gather(*(register_self(client, invited["code"], country="SG") for _ in range(20)))
        assert sorted(a.status_code for a in answers) == [201] * 5 + [409] * 15
        assert (await client.get("/stats")).json()["delegates"] == {"registered": 0, "checked_in": 0,
                                                                    "countries": 0, "pending": 5}
