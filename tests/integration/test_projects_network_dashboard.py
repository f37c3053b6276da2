"""The dashboard's figures stay exactly equal to the services' own through every change the projects
and network services make: signing (fen and ten-billion amounts), amending sector, amount and party
countries, withdrawing, joining, suspending, reinstating, leaving and changing a member's country.

Once on the embedded bus (``deploy``), once on the real Kafka with the four services in-process.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from devkit import stack
from devkit.waiting import eventually
from shared.topology import SERVICE_NAMES
from tests.support.bodies import delegate_body, edition_body, organization_body, project_body
from tests.support.deployment import Deployment, deploy
from tests.support.http_checks import walk_pages

D = Decimal


async def created(response: Any) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


async def expected_countries(d: Deployment) -> dict[str, tuple[int, int, str]]:
    """country -> (active members, signed projects with a party there, their full value), from the services."""
    rows: dict[str, list[Any]] = defaultdict(lambda: [0, 0, D("0.00")])
    for member in await walk_pages(d["network"], "/organizations", limit=500, status="active"):
        rows[member["country"]][0] += 1
    for project in await walk_pages(d["projects"], "/projects", limit=500, status="signed"):
        for country in {p["country"] for p in project["parties"]}:
            rows[country][1] += 1
            rows[country][2] += D(project["amount_cny"])
    return {c: (n, p, f"{a:.2f}") for c, (n, p, a) in rows.items() if n or p}


async def assert_dashboard_equals_services(d: Deployment, editions: list[str], timeout: float) -> None:
    async def check() -> bool:
        for params in [{}, *({"edition_id": e} for e in editions)]:
            totals = (await d["dashboard"].get("/totals", params=params)).json()
            assert totals["delegates"] == (await d["registration"].get("/stats", params=params)).json()["delegates"]
            assert totals["projects"] == (await d["projects"].get("/stats", params=params)).json()["projects"]
            assert totals["network"] == (await d["network"].get("/stats")).json()["network"]
        shown = {r["country"]: (r["organizations"], r["projects"], r["amount_cny"])
                 for r in (await d["dashboard"].get("/countries")).json()["items"]
                 if r["organizations"] or r["projects"]}
        assert shown == await expected_countries(d)
        return True
    await eventually(check, timeout=timeout, interval=0.1)


async def scenario(d: Deployment, *, timeout: float) -> None:
    reg, proj, net = d["registration"], d["projects"], d["network"]
    editions = [(await created(await reg.post("/editions", json=edition_body(year))))["id"] for year in (2025, 2026)]
    for edition_id in editions:
        await d.projects_know_edition(edition_id)
    for country in ("CN", "MY", "KZ"):
        await created(await reg.post("/delegates", json=delegate_body(editions[0], country=country)))

    members = {}
    for key, country in (("my", "MY"), ("sg", "SG"), ("sg2", "SG"), ("th", "TH")):
        members[key] = (await created(await net.post("/organizations", json=organization_body(country=country))))["id"]
    for member in members.values():
        await d.projects_know_organization(member)
    await assert_dashboard_equals_services(d, editions, timeout)

    # Signing: fen and ten-billion amounts, many times, in several sectors and countries.
    def parties(*countries: str, member: str | None = None) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = [{"name": f"Party {c}", "country": c} for c in countries]
        if member:
            listed[0]["organization_id"] = members[member]
        return listed

    signed = []
    for i in range(12):
        amount = "0.01" if i % 2 else "9999999999.99"
        sector = ("energy", "green_energy", "digital_economy", "manufacturing")[i % 4]
        edition_id = editions[i % 2]
        party_list = parties("CN", "MY", member="my") if i % 3 == 0 else parties("SG", "CN", member="sg")
        signed.append(await created(await proj.post("/projects", json=project_body(
            edition_id, amount=amount, sector=sector, parties=party_list))))
    signed.append(await created(await proj.post("/projects", json=project_body(
        editions[0], amount="1000.00", currency="USD", fx_rate_to_cny="7.12345678", sector="finance",
        parties=parties("TH", member="th")))))
    await assert_dashboard_equals_services(d, editions, timeout)
    total = D((await proj.get("/stats")).json()["projects"]["amount_cny"])
    assert total == 6 * D("9999999999.99") + 6 * D("0.01") + D("7123.46")

    # Amending: sector, amount (and currency), party countries, one after another and all at once.
    await created(await proj.patch(f"/projects/{signed[0]['id']}", json={"sector": "agriculture"}))
    await created(await proj.patch(f"/projects/{signed[1]['id']}", json={"amount": "123456789.12"}))
    await created(await proj.patch(f"/projects/{signed[2]['id']}", json={"parties": parties("VN", "KZ")}))
    await created(await proj.patch(f"/projects/{signed[3]['id']}", json={
        "sector": "healthcare", "amount": "50.00", "currency": "EUR", "fx_rate_to_cny": "7.8",
        "parties": parties("TH", "DE", member="th")}))
    await assert_dashboard_equals_services(d, editions, timeout)

    # Withdrawing (one that was amended, one that was not).
    for project in (signed[1], signed[4]):
        await created(await proj.post(f"/projects/{project['id']}/withdraw"))
    await assert_dashboard_equals_services(d, editions, timeout)

    # The membership lifecycle and a change of country.
    await created(await net.post(f"/organizations/{members['sg']}/suspend"))
    await assert_dashboard_equals_services(d, editions, timeout)
    await created(await net.post(f"/organizations/{members['sg']}/reinstate"))
    await created(await net.patch(f"/organizations/{members['sg2']}", json={"country": "ID", "kind": "other"}))
    await assert_dashboard_equals_services(d, editions, timeout)
    await created(await net.post(f"/organizations/{members['th']}/suspend"))
    await created(await net.post(f"/organizations/{members['th']}/leave"))
    await created(await net.post(f"/organizations/{members['my']}/leave"))
    await created(await net.post("/organizations", json=organization_body(country="AE")))
    await assert_dashboard_equals_services(d, editions, timeout)

    # What the members signed, seen by the network service from the same events.
    async def member_figures() -> bool:
        body = (await net.get(f"/organizations/{members['sg']}")).json()
        now = [await created(await proj.get(f"/projects/{p['id']}")) for p in signed]
        mine = [p for p in now if any(x["organization_id"] == members["sg"] for x in p["parties"])]
        assert {p["project_id"]: p["status"] for p in body["projects"]} == {p["id"]: p["status"] for p in mine}
        value = sum((D(p["amount_cny"]) for p in mine if p["status"] == "signed"), D("0.00"))
        assert body["signed_amount_cny"] == f"{value:.2f}"
        return True
    await eventually(member_figures, timeout=timeout)


@pytest.mark.postgres
async def test_dashboard_equals_the_services_through_every_change_on_the_embedded_bus(
        postgres_env: dict[str, str], tmp_path: Path) -> None:
    async with deploy(postgres_env, tmp_path / "data", list(SERVICE_NAMES)) as d:
        await scenario(d, timeout=30)


@pytest.mark.postgres
@pytest.mark.kafka
async def test_dashboard_equals_the_services_through_every_change_on_kafka(
        postgres_env: dict[str, str], kafka_env: dict[str, str], tmp_path: Path) -> None:
    # The four services in-process on fresh PostgreSQL databases, talking through the real Kafka.
    async with deploy(postgres_env, tmp_path / "data", list(SERVICE_NAMES), bus="kafka",
                      kafka_bootstrap=stack.kafka_bootstrap(kafka_env), poll_interval_seconds=0.2) as d:
        await scenario(d, timeout=60)
