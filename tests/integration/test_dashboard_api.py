"""The dashboard API against the real PostgreSQL, fed on the embedded bus by the three other services."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from devkit.waiting import eventually
from tests.support.bodies import delegate_body, edition_body, organization_body, project_body
from tests.support.deployment import Deployment, deploy
from tests.support.http_checks import WEIRD_PATHS, assert_no_server_error, assert_problem

pytestmark = pytest.mark.postgres


@dataclass
class World:
    edition_id: str
    other_edition_id: str


async def created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def assert_converged(d: Deployment, edition_id: str | None = None, timeout: float = 30) -> dict[str, Any]:
    """Eventually the dashboard's three inner objects equal the services' /stats, field for field."""
    params = {"edition_id": edition_id} if edition_id else {}

    async def check() -> dict[str, Any]:
        totals: dict[str, Any] = (await d["dashboard"].get("/totals", params=params)).json()
        assert totals["delegates"] == (await d["registration"].get("/stats", params=params)).json()["delegates"]
        assert totals["projects"] == (await d["projects"].get("/stats", params=params)).json()["projects"]
        assert totals["network"] == (await d["network"].get("/stats")).json()["network"]
        return totals
    result: dict[str, Any] = await eventually(check, timeout=timeout)
    return result


@pytest.fixture(scope="module")
async def dash(postgres_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
               ) -> AsyncIterator[Deployment]:
    data_dir = tmp_path_factory.mktemp("dashboard") / "data"
    async with deploy(postgres_env, data_dir, ["registration", "projects", "network", "dashboard"]) as d:
        yield d


@pytest.fixture(scope="module")
async def world(dash: Deployment) -> World:
    """Delegates in CN/MY/DE (one cancelled), members in MY/SG (one left), projects (one withdrawn)."""
    reg, proj, net = dash["registration"], dash["projects"], dash["network"]
    edition = await created(await reg.post("/editions", json=edition_body(2025)))
    other = await created(await reg.post("/editions", json=edition_body(2026)))
    for edition_id in (edition["id"], other["id"]):
        await dash.projects_know_edition(edition_id)

    delegates = [await created(await reg.post("/delegates", json=delegate_body(edition["id"], country=c)))
                 for c in ("CN", "CN", "CN", "MY", "MY", "DE")]
    await created(await reg.post("/delegates", json=delegate_body(other["id"], country="TH")))
    assert (await reg.post(f"/delegates/{delegates[0]['id']}/cancel")).status_code == 200

    chamber = await created(await net.post("/organizations", json=organization_body(country="MY")))
    await created(await net.post("/organizations", json=organization_body(country="MY", kind="other")))
    leaving = await created(await net.post("/organizations", json=organization_body(country="SG")))
    assert (await net.post(f"/organizations/{leaving['id']}/leave")).status_code == 200
    await dash.projects_know_organization(chamber["id"])

    def parties(*countries: str, org: str | None = None) -> list[dict[str, Any]]:
        return [{"name": f"Party {c}", "country": c, **({"organization_id": org} if org and c == "MY" else {})}
                for c in countries]

    await created(await proj.post("/projects", json=project_body(
        edition["id"], amount="43790000000.00", sector="manufacturing",
        parties=parties("CN", "MY", org=chamber["id"]))))
    await created(await proj.post("/projects", json=project_body(
        edition["id"], amount="0.10", sector="energy", parties=parties("MY"))))
    await created(await proj.post("/projects", json=project_body(
        edition["id"], amount="1000.00", currency="USD", fx_rate_to_cny="7.1", sector="agriculture",
        parties=parties("DE", "CN"))))
    withdrawn = await created(await proj.post("/projects", json=project_body(
        edition["id"], amount="5.00", sector="finance", parties=parties("CN"))))
    assert (await proj.post(f"/projects/{withdrawn['id']}/withdraw")).status_code == 200
    await created(await proj.post("/projects", json=project_body(
        other["id"], amount="1.00", sector="other", parties=parties("TH"))))

    await assert_converged(dash)
    return World(edition_id=edition["id"], other_edition_id=other["id"])


async def test_totals_match_every_service_field_for_field(dash: Deployment, world: World) -> None:
    totals = await assert_converged(dash)
    assert totals["delegates"] == {"registered": 6, "checked_in": 0, "countries": 4, "pending": 0}
    assert totals["network"] == {"organizations": 2, "countries": 1}
    assert totals["projects"]["signed"] == 4
    assert totals["projects"]["amount_cny"] == "43790007101.10"

    per_edition = await assert_converged(dash, world.edition_id)
    assert per_edition["delegates"] == {"registered": 5, "checked_in": 0, "countries": 3, "pending": 0}
    projects = per_edition["projects"]
    assert projects["signed"] == 3 and projects["amount_cny"] == "43790007100.10"
    assert projects["by_sector"]["manufacturing"] == {"count": 1, "amount_cny": "43790000000.00"}
    assert projects["by_sector"]["energy"] == {"count": 1, "amount_cny": "0.10"}
    assert projects["by_sector"]["agriculture"] == {"count": 1, "amount_cny": "7100.00"}
    assert projects["by_sector"]["finance"] == {"count": 0, "amount_cny": "0.00"}
    assert per_edition["network"] == totals["network"]
    await assert_converged(dash, world.other_edition_id)


async def test_totals_are_public_and_dated(dash: Deployment, world: World) -> None:
    response = await dash["dashboard"].get("/totals", headers={"Authorization": ""})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"delegates", "projects", "network", "updated_at"}
    updated_at = datetime.fromisoformat(body["updated_at"].replace("Z", "+00:00"))
    offset = updated_at.utcoffset()
    assert offset is not None and offset.total_seconds() == 0


async def test_totals_of_an_unknown_edition_are_zero(dash: Deployment, world: World) -> None:
    body = (await dash["dashboard"].get("/totals", params={"edition_id": str(uuid.uuid4())})).json()
    assert body["delegates"] == {"registered": 0, "checked_in": 0, "countries": 0, "pending": 0}
    assert body["projects"]["signed"] == 0 and body["projects"]["amount_cny"] == "0.00"
    assert all(v == {"count": 0, "amount_cny": "0.00"} for v in body["projects"]["by_sector"].values())


EXPECTED_COUNTRIES = [
    {"country": "CN", "delegates": 2, "checked_in": 0, "organizations": 0, "projects": 2,
     "amount_cny": "43790007100.00"},
    {"country": "DE", "delegates": 1, "checked_in": 0, "organizations": 0, "projects": 1, "amount_cny": "7100.00"},
    {"country": "MY", "delegates": 2, "checked_in": 0, "organizations": 2, "projects": 2,
     "amount_cny": "43790000000.10"},
    {"country": "TH", "delegates": 1, "checked_in": 0, "organizations": 0, "projects": 1, "amount_cny": "1.00"},
]


async def test_countries(dash: Deployment, world: World) -> None:
    response = await dash["dashboard"].get("/countries", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.json() == {"items": EXPECTED_COUNTRIES}


@pytest.mark.parametrize(("code", "expected"), [("MY", "MY"), ("my", "MY"), ("cn", "CN"), ("TH", "TH")])
async def test_one_country(dash: Deployment, world: World, code: str, expected: str) -> None:
    response = await dash["dashboard"].get(f"/countries/{code}", headers={"Authorization": ""})
    assert response.status_code == 200, response.text
    assert response.json() == next(c for c in EXPECTED_COUNTRIES if c["country"] == expected)


@pytest.mark.parametrize(("code", "status", "problem"), [
    ("SG", 404, "not_found"),   # its only member left: no figures
    ("FR", 404, "not_found"),
    ("XX", 422, "invalid_country"),
    ("zz1", 422, "invalid_country"),
    ("CHN", 422, "invalid_country"),
    ("%00", 422, "invalid_country"),
])
async def test_country_without_figures_or_not_a_code(dash: Deployment, world: World, code: str, status: int,
                                                    problem: str) -> None:
    assert_problem(await dash["dashboard"].get(f"/countries/{code}"), status, problem)


async def test_dashboard_is_read_only(dash: Deployment, world: World) -> None:
    for path in ("/totals", "/countries", "/countries/MY"):
        assert_problem(await dash["dashboard"].post(path, json={}), 405, "method_not_allowed")
    assert_problem(await dash["dashboard"].get("/totals", params={"edition_id": "x" * 37}), 422,
                   "validation_failed", field="query.edition_id")


async def test_no_request_makes_a_server_error(dash: Deployment, world: World) -> None:
    await assert_no_server_error(dash["dashboard"], [
        *WEIRD_PATHS,
        ("GET", "/totals?edition_id=%00", None),
        ("GET", "/totals?edition_id=", None),
        ("GET", "/countries/" + "x" * 5000, None),
        ("GET", "/countries/%F0%9F%92%A9", None),
        ("GET", "/countries/M%00", None),
        ("GET", "/countries?limit=-1", None),
        ("DELETE", "/countries/MY", None),
    ])


async def test_largest_recordable_amounts_reach_the_dashboard(postgres_env: dict[str, str], tmp_path: Path
                                                                ) -> None:
    """What projects accepts, the dashboard can count: with many projects of the largest amount
    projects accepts, its totals still equal projects' /stats (nothing dead-lettered)."""
    async with deploy(postgres_env, tmp_path / "data", ["registration", "projects", "dashboard"]) as d:
        edition = await created(await d["registration"].post("/editions", json=edition_body()))
        await d.projects_know_edition(edition["id"])
        largest = "999999999999999.99"
        for _ in range(20):
            await created(await d["projects"].post("/projects", json=project_body(edition["id"], amount=largest)))
        await created(await d["projects"].post("/projects", json=project_body(edition["id"], amount="0.01")))
        assert_problem(await d["projects"].post("/projects", json=project_body(edition["id"], amount="1e15")),
                       422, "validation_failed", field="amount")

        async def check() -> bool:
            totals = (await d["dashboard"].get("/totals")).json()["projects"]
            assert totals == (await d["projects"].get("/stats")).json()["projects"]
            return True
        await eventually(check, timeout=15)
        totals = (await d["dashboard"].get("/totals")).json()["projects"]
        assert totals["amount_cny"] == "19999999999999999.81" and totals["signed"] == 21
        country = (await d["dashboard"].get("/countries/MY")).json()
        assert country["amount_cny"] == "19999999999999999.81"
