"""The Top-10 cases of Overseas Chinese Contribution on the real PostgreSQL (embedded bus): one featured
case per rank and edition (a partial unique index), rank order, links to signed projects, events."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from tests.support.bodies import edition_body, project_body
from tests.support.deployment import Deployment, deploy, nothing_written
from tests.support.http_checks import assert_no_server_error, assert_problem

pytestmark = pytest.mark.postgres

FEATURED = "conference.projects.case_featured.v1"
UNFEATURED = "conference.projects.case_unfeatured.v1"


@pytest.fixture(scope="module")
async def proj(postgres_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    async with deploy(postgres_env, tmp_path_factory.mktemp("cases") / "data", ["registration", "projects"]) as d:
        yield d


async def open_edition(d: Deployment, year: int) -> str:
    response = await d["registration"].post("/editions", json=edition_body(year))
    assert response.status_code == 201, response.text
    edition_id: str = response.json()["id"]
    await d.projects_know_edition(edition_id)
    return edition_id


@pytest.fixture(scope="module")
async def edition(proj: Deployment) -> str:
    return await open_edition(proj, 2025)


def case_body(edition_id: str, rank: int, /, **changes: Any) -> dict[str, Any]:
    return {"edition_id": edition_id, "rank": rank, "title": "Solar power for 20,000 homes in Kenya",
            "sector": "energy", "enterprise": "Overseas Chinese Renewables Ltd", "country": "KE",
            "summary": "An overseas Chinese entrepreneur built solar mini-grids for rural Kenya.", **changes}


async def feature(d: Deployment, edition_id: str, rank: int, **changes: Any) -> dict[str, Any]:
    response = await d["projects"].post("/cases", json=case_body(edition_id, rank, **changes))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def showcase(d: Deployment, edition_id: str) -> list[dict[str, Any]]:
    response = await d["projects"].get("/cases", params={"edition_id": edition_id}, headers={"Authorization": ""})
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    assert page["next_cursor"] is None
    items: list[dict[str, Any]] = page["items"]
    return items


@contextlib.asynccontextmanager
async def no_case_written(d: Deployment) -> AsyncIterator[None]:
    """Nothing written in the projects service, the cases table included."""
    before = await d.scalar("projects", "SELECT count(*) FROM cases")
    changed = await d.scalar("projects", "SELECT count(*) FROM cases WHERE status = 'unfeatured'")
    async with nothing_written(d, "projects", "/stats"):
        yield
    assert await d.scalar("projects", "SELECT count(*) FROM cases") == before
    assert await d.scalar("projects", "SELECT count(*) FROM cases WHERE status = 'unfeatured'") == changed


async def test_the_top_10_in_rank_order_with_events(proj: Deployment) -> None:
    own = await open_edition(proj, 2030)
    project = (await proj["projects"].post("/projects", json=project_body(own))).json()
    made = {}
    for rank in (7, 1, 10, 3):
        made[rank] = await feature(proj, own, rank, title=f"Case ranked {rank}",
                                   **({"project_id": project["id"]} if rank == 3 else {}))
    assert made[3]["project_id"] == project["id"] and made[1]["project_id"] is None
    assert made[1]["status"] == "featured" and made[1]["country"] == "KE" and made[1]["edition_id"] == own
    listed = await showcase(proj, own)
    assert [c["rank"] for c in listed] == [1, 3, 7, 10]
    assert listed[0] == made[1]
    got = await proj["projects"].get(f"/cases/{made[7]['id']}", headers={"Authorization": ""})
    assert got.status_code == 200 and got.json() == made[7]

    await proj.event_count("projects")
    featured = {e["subject"]: e["data"] for e in proj.bus_events("projects") if e["type"] == FEATURED}
    assert featured[made[3]["id"]] == {
        "case_id": made[3]["id"], "edition_id": own, "rank": 3, "title": "Case ranked 3", "sector": "energy",
        "enterprise": "Overseas Chinese Renewables Ltd", "country": "KE", "project_id": project["id"]}


async def test_a_rank_is_taken_until_its_case_is_unfeatured(proj: Deployment, edition: str) -> None:
    first = await feature(proj, edition, 5)
    async with no_case_written(proj):
        response = await proj["projects"].post("/cases", json=case_body(edition, 5, title="Another"))
        body = assert_problem(response, 409, "rank_taken")
        assert body["case_id"] == first["id"] and "unfeature" in body["detail"]

    events = await proj.event_count("projects")
    response = await proj["projects"].post(f"/cases/{first['id']}/unfeature")
    assert response.status_code == 200 and response.json() == {"id": first["id"], "status": "unfeatured"}
    assert await proj.event_count("projects") == events + 1
    event = proj.bus_events("projects")[-1]
    assert event["type"] == UNFEATURED and event["data"] == {"case_id": first["id"], "edition_id": edition,
                                                            "rank": 5}
    assert first["id"] not in {c["id"] for c in await showcase(proj, edition)}
    unfeatured = (await proj["projects"].get(f"/cases/{first['id']}")).json()
    assert unfeatured["status"] == "unfeatured" and unfeatured["unfeatured_at"]

    second = await feature(proj, edition, 5, title="The new number five")
    assert [c["id"] for c in await showcase(proj, edition) if c["rank"] == 5] == [second["id"]]
    async with no_case_written(proj):
        assert_problem(await proj["projects"].post(f"/cases/{first['id']}/unfeature"), 409, "already_unfeatured")
        assert_problem(await proj["projects"].post(f"/cases/{uuid.uuid4()}/unfeature"), 404, "case_not_found")


async def test_the_same_rank_in_another_edition_is_free(proj: Deployment, edition: str) -> None:
    other = await open_edition(proj, 2031)
    await feature(proj, edition, 9)
    assert (await feature(proj, other, 9))["edition_id"] == other


async def test_concurrent_cases_at_one_rank_feature_exactly_one(proj: Deployment) -> None:
    """The database decides: the partial unique index lets one of the racing inserts through."""
    own = await open_edition(proj, 2032)
    responses = await asyncio.gather(*(proj["projects"].post("/cases", json=case_body(own, 2, title=f"Racer {i}"))
                                       for i in range(8)))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "rank_taken")
    assert await proj.scalar("projects", "SELECT count(*) FROM cases WHERE edition_id = :e", e=own) == 1


async def test_the_database_refuses_a_second_featured_case_at_a_rank(proj: Deployment, edition: str) -> None:
    holder = await feature(proj, edition, 8)
    engine = proj.engines["projects"]
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.exec_driver_sql(
                "INSERT INTO cases (id, edition_id, rank, title, sector, enterprise, country, summary, status, "
                "created_at) VALUES ($1, $2, 8, 't', 'energy', 'e', 'CN', 's', 'featured', now())",
                (str(uuid.uuid4()), edition))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.exec_driver_sql(
                "INSERT INTO cases (id, edition_id, rank, title, sector, enterprise, country, summary, status, "
                "created_at) VALUES ($1, $2, 11, 't', 'energy', 'e', 'CN', 's', 'unfeatured', now())",
                (str(uuid.uuid4()), edition))
    assert holder["id"] in {c["id"] for c in await showcase(proj, edition)}


async def test_a_linked_project_must_be_signed_in_the_same_edition(proj: Deployment, edition: str) -> None:
    other = await open_edition(proj, 2033)
    elsewhere = (await proj["projects"].post("/projects", json=project_body(other))).json()
    withdrawn = (await proj["projects"].post("/projects", json=project_body(edition))).json()
    assert (await proj["projects"].post(f"/projects/{withdrawn['id']}/withdraw")).status_code == 200
    async with no_case_written(proj):
        for project_id, code in ((str(uuid.uuid4()), "unknown_project"), (elsewhere["id"], "project_not_eligible"),
                                 (withdrawn["id"], "project_not_eligible")):
            response = await proj["projects"].post("/cases", json=case_body(edition, 4, project_id=project_id))
            assert_problem(response, 422, code, field="project_id")


BAD_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("rank 0", {"rank": 0}, "rank"),
    ("rank 11", {"rank": 11}, "rank"),
    ("rank as a string", {"rank": "3"}, "rank"),
    ("rank as a float", {"rank": 3.5}, "rank"),
    ("rank as a boolean", {"rank": True}, "rank"),
    ("unknown sector", {"sector": "mining"}, "sector"),
    ("unknown country", {"country": "XX"}, "country"),
    ("blank title", {"title": " "}, "title"),
    ("title 301 chars", {"title": "x" * 301}, "title"),
    ("blank enterprise", {"enterprise": ""}, "enterprise"),
    ("summary 4001 chars", {"summary": "x" * 4001}, "summary"),
    ("project_id 37 chars", {"project_id": "x" * 37}, "project_id"),
    ("unknown field", {"featured": True}, "featured"),
]


@pytest.mark.parametrize(("change", "field"), [pytest.param(c, f, id=i) for i, c, f in BAD_CASES])
async def test_feature_rejects_bad_input(proj: Deployment, edition: str, change: dict[str, Any], field: str) -> None:
    async with no_case_written(proj):
        response = await proj["projects"].post("/cases", json=case_body(edition, 6, **change))
        assert_problem(response, 422, "validation_failed", field=field)


@pytest.mark.parametrize("missing", ["edition_id", "rank", "title", "sector", "enterprise", "country", "summary"])
async def test_feature_requires_fields(proj: Deployment, edition: str, missing: str) -> None:
    body = case_body(edition, 6)
    del body[missing]
    async with no_case_written(proj):
        assert_problem(await proj["projects"].post("/cases", json=body), 422, "validation_failed", field=missing)


async def test_an_unknown_edition_is_422(proj: Deployment) -> None:
    async with no_case_written(proj):
        response = await proj["projects"].post("/cases", json=case_body(str(uuid.uuid4()), 1))
        assert_problem(response, 422, "unknown_edition", field="edition_id")


async def test_listing_needs_an_edition(proj: Deployment) -> None:
    assert_problem(await proj["projects"].get("/cases"), 422, "validation_failed", field="query.edition_id")
    assert await showcase(proj, str(uuid.uuid4())) == []
    assert_problem(await proj["projects"].get(f"/cases/{uuid.uuid4()}"), 404, "case_not_found")


async def test_featuring_needs_the_projects_role_and_a_retry_features_once(proj: Deployment) -> None:
    own = await open_edition(proj, 2034)
    body = case_body(own, 1)
    existing = await feature(proj, own, 2)
    async with no_case_written(proj):
        for path, payload in (("/cases", body), (f"/cases/{existing['id']}/unfeature", None)):
            assert_problem(await proj["projects"].post(path, json=payload, headers={"Authorization": ""}),
                           401, "unauthenticated")
            for token in ("registrar-token", "network-token", "checkin-token"):
                response = await proj["projects"].post(path, json=payload,
                                                       headers={"Authorization": f"Bearer {token}"})
                assert_problem(response, 403, "forbidden")
    headers = {"Authorization": "Bearer projects-token", "Idempotency-Key": "case-1"}
    first = await proj["projects"].post("/cases", json=body, headers=headers)
    events = await proj.event_count("projects")
    retry = await proj["projects"].post("/cases", json=body, headers=headers)
    assert first.status_code == retry.status_code == 201 and retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert await proj.event_count("projects") == events
    assert [c["id"] for c in await showcase(proj, own)] == [first.json()["id"], existing["id"]]
    assert_problem(await proj["projects"].post("/cases", json={**body, "rank": 3}, headers=headers),
                   409, "idempotency_key_reused")

    path = f"/cases/{existing['id']}/unfeature"
    unfeature = {"Authorization": "Bearer projects-token", "Idempotency-Key": "unfeature-1"}
    assert (await proj["projects"].post(path, headers=unfeature)).status_code == 200
    replay = await proj["projects"].post(path, headers=unfeature)
    assert replay.status_code == 200 and replay.json()["status"] == "unfeatured"


async def test_no_case_request_makes_a_server_error(proj: Deployment, edition: str) -> None:
    await assert_no_server_error(proj["projects"], [
        ("GET", "/cases?edition_id=%00", None),
        ("GET", "/cases?edition_id=" + "x" * 37, None),
        ("GET", "/cases/%00", None),
        ("POST", "/cases/%00/unfeature", None),
        ("POST", "/cases", case_body(edition, 6, title="nul\u0000")),
        ("POST", "/cases", case_body(edition, 6, project_id="\u0000")),
        ("POST", "/cases", case_body(edition, 10**30)),
        ("POST", "/cases", b'{"rank": 1e400}'),
        ("POST", "/cases", b"[]"),
    ])
