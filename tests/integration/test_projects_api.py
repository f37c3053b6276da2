"""The projects API against the real PostgreSQL (embedded bus): exact money, references learnt from events."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from devkit.waiting import eventually
from shared.db.notifications import asyncpg_dsn
from tests.support.bodies import edition_body, organization_body, project_body
from tests.support.deployment import Deployment, databases, deploy, nothing_written
from tests.support.http_checks import WEIRD_PATHS, assert_no_server_error, assert_problem, walk_pages

pytestmark = pytest.mark.postgres

SECTORS = ("green_energy", "digital_economy", "energy", "manufacturing", "infrastructure", "trade_logistics",
           "agriculture", "finance", "healthcare", "culture_tourism", "social_livelihood", "other")


@pytest.fixture(scope="module")
async def proj(postgres_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
               ) -> AsyncIterator[Deployment]:
    data_dir = tmp_path_factory.mktemp("projects") / "data"
    async with deploy(postgres_env, data_dir, ["registration", "network", "projects"]) as d:
        yield d


async def open_known_edition(d: Deployment, year: int = 2025) -> str:
    """An edition opened in registration, once projects has learnt it from `edition_opened`."""
    response = await d["registration"].post("/editions", json=edition_body(year))
    assert response.status_code == 201, response.text
    edition_id: str = response.json()["id"]
    await d.projects_know_edition(edition_id)
    return edition_id


async def join_known_organization(d: Deployment, **changes: Any) -> str:
    response = await d["network"].post("/organizations", json=organization_body(**changes))
    assert response.status_code == 201, response.text
    organization_id: str = response.json()["id"]
    await d.projects_know_organization(organization_id, "active")
    return organization_id


@pytest.fixture(scope="module")
async def edition(proj: Deployment) -> str:
    return await open_known_edition(proj)


async def sign(d: Deployment, edition_id: str, **changes: Any) -> dict[str, Any]:
    response = await d["projects"].post("/projects", json=project_body(edition_id, **changes))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# -- happy paths ------------------------------------------------------------------------------------------


async def test_sign_a_project_of_43_79_billion_and_read_it(proj: Deployment, edition: str) -> None:
    client = proj["projects"]
    organization_id = await join_known_organization(proj)
    events = await proj.event_count("projects")
    parties = [{"name": "Chongqing Changan Automobile", "country": "CN"},
               {"name": "Chinese Chamber of Commerce", "country": "MY", "organization_id": organization_id}]
    created = await sign(proj, edition, amount="43790000000.00", sector="manufacturing", parties=parties)
    assert created["status"] == "signed"
    assert created["amount"] == "43790000000.00"
    assert created["amount_cny"] == "43790000000.00"
    assert created["currency"] == "CNY" and created["fx_rate_to_cny"] is None
    assert created["edition_id"] == edition and created["sector"] == "manufacturing"
    assert created["signed_on"] == "2025-10-21"
    assert created["parties"] == [{**parties[0], "organization_id": None}, parties[1]]
    uuid.UUID(created["id"])

    got = await client.get(f"/projects/{created['id']}", headers={"Authorization": ""})
    assert got.status_code == 200 and got.json() == created
    assert await proj.event_count("projects") == events + 1


@pytest.mark.parametrize(("amount", "currency", "rate", "amount_cny"), [
    ("1000000.00", "USD", "7.1234", "7123400.00"),
    ("0.03", "EUR", "0.5", "0.02"),           # 0.015 rounds half up to the fen
    ("123456789.99", "MYR", "1.52345678", "188081083.75"),
    ("100", "CNY", "1", "100.00"),
    ("250", "CNY", None, "250.00"),            # no decimals: whole yuan
])
async def test_amounts_are_converted_to_yuan_exactly(proj: Deployment, edition: str, amount: Any, currency: str,
                                                     rate: str | None, amount_cny: str) -> None:
    changes: dict[str, Any] = {"amount": amount, "currency": currency}
    if rate is not None:
        changes["fx_rate_to_cny"] = rate
    created = await sign(proj, edition, **changes)
    assert created["amount_cny"] == amount_cny
    assert created["amount"] == f"{Decimal(str(amount)):.2f}"
    assert created["currency"] == currency
    assert Decimal(amount_cny) == (Decimal(str(amount)) * Decimal(rate or 1)).quantize(Decimal("0.01"),
                                                                                          "ROUND_HALF_UP")


async def test_sum_of_many_projects_stays_exact(proj: Deployment) -> None:
    client = proj["projects"]
    own = await open_known_edition(proj, 2026)
    amounts = ["43790000000.00", "0.10", "0.20", "0.30", "1234567.89", "999999.99", "0.01", "333333.33",
               "333333.33", "333333.34", "7.77", "12.34", "56.78", "90.12", "0.07"] * 2
    signed = []
    for i, amount in enumerate(amounts):
        signed.append(await sign(proj, own, amount=amount, sector=SECTORS[i % len(SECTORS)]))
    total = sum((Decimal(a) for a in amounts), Decimal("0.00"))
    figures = (await client.get("/stats", params={"edition_id": own}, headers={"Authorization": ""})).json()
    projects = figures["projects"]
    assert projects["signed"] == len(amounts)
    assert projects["amount_cny"] == f"{total:.2f}" == "87586469471.14"
    assert set(projects["by_sector"]) == set(SECTORS)
    for sector in SECTORS:
        mine = [Decimal(p["amount_cny"]) for p in signed if p["sector"] == sector]
        assert projects["by_sector"][sector] == {"count": len(mine),
                                                 "amount_cny": f"{sum(mine, Decimal('0.00')):.2f}"}

    gone = signed[1]
    withdrawn = await client.post(f"/projects/{gone['id']}/withdraw")
    assert withdrawn.status_code == 200 and withdrawn.json() == {"id": gone["id"], "status": "withdrawn"}
    after = (await client.get("/stats", params={"edition_id": own})).json()["projects"]
    assert after["signed"] == len(amounts) - 1
    assert after["amount_cny"] == f"{total - Decimal(gone['amount_cny']):.2f}" == "87586469471.04"
    assert after["by_sector"][gone["sector"]]["count"] == projects["by_sector"][gone["sector"]]["count"] - 1


async def test_empty_stats_list_every_sector_with_zeros(proj: Deployment) -> None:
    response = await proj["projects"].get("/stats", params={"edition_id": str(uuid.uuid4())})
    assert response.status_code == 200
    assert response.json() == {"projects": {"signed": 0, "amount_cny": "0.00", "by_sector": {
        s: {"count": 0, "amount_cny": "0.00"} for s in SECTORS}}}


async def test_list_projects_filters_and_pagination(proj: Deployment) -> None:
    client = proj["projects"]
    own = await open_known_edition(proj, 2027)
    other = await open_known_edition(proj, 2028)
    plan = [("energy", ["CN", "KZ"]), ("energy", ["CN"]), ("finance", ["SG"]), ("agriculture", ["TH", "CN"]),
            ("energy", ["KZ"]), ("healthcare", ["MY"]), ("finance", ["CN", "SG"])]
    made = [await sign(proj, own, sector=sector, parties=[{"name": f"Party {c}", "country": c} for c in countries])
            for sector, countries in plan]
    await sign(proj, other, sector="energy")
    withdrawn = made[0]
    assert (await client.post(f"/projects/{withdrawn['id']}/withdraw")).status_code == 200

    everything = await walk_pages(client, "/projects", limit=2, edition_id=own)
    assert {p["id"] for p in everything} == {p["id"] for p in made}
    assert all(p["parties"] for p in everything)
    assert [p["id"] for p in await walk_pages(client, "/projects", limit=1, edition_id=own)] == [
        p["id"] for p in everything]

    energy = await walk_pages(client, "/projects", limit=2, edition_id=own, sector="energy")
    assert {p["id"] for p in energy} == {p["id"] for p in made if p["sector"] == "energy"}
    kazakh = await walk_pages(client, "/projects", limit=2, edition_id=own, country="kz")
    assert {p["id"] for p in kazakh} == {made[0]["id"], made[4]["id"]}
    chinese_signed = await walk_pages(client, "/projects", limit=2, edition_id=own, country="CN", status="signed")
    assert {p["id"] for p in chinese_signed} == {made[1]["id"], made[3]["id"], made[6]["id"]}
    only_withdrawn = await walk_pages(client, "/projects", limit=5, edition_id=own, status="withdrawn")
    assert [p["id"] for p in only_withdrawn] == [withdrawn["id"]]
    assert only_withdrawn[0]["status"] == "withdrawn"
    public = await client.get("/projects", params={"edition_id": own}, headers={"Authorization": ""})
    assert public.status_code == 200 and len(public.json()["items"]) == len(made)


async def test_withdraw_twice_is_409_and_changes_nothing(proj: Deployment, edition: str) -> None:
    client = proj["projects"]
    created = await sign(proj, edition)
    assert (await client.post(f"/projects/{created['id']}/withdraw")).json()["status"] == "withdrawn"
    assert (await client.get(f"/projects/{created['id']}")).json()["status"] == "withdrawn"
    async with nothing_written(proj, "projects", "/stats", f"/stats?edition_id={edition}"):
        assert_problem(await client.post(f"/projects/{created['id']}/withdraw"), 409, "already_withdrawn")


async def test_unknown_project_is_404(proj: Deployment) -> None:
    client = proj["projects"]
    missing = uuid.uuid4()
    assert_problem(await client.get(f"/projects/{missing}"), 404, "project_not_found")
    async with nothing_written(proj, "projects", "/stats"):
        assert_problem(await client.post(f"/projects/{missing}/withdraw"), 404, "project_not_found")


# -- bad input --------------------------------------------------------------------------------------------

BAD_PROJECTS: list[tuple[str, dict[str, Any], str]] = [
    ("negative amount", {"amount": "-1.00"}, "amount"),
    ("zero amount", {"amount": "0"}, "amount"),
    ("amount rounding to zero", {"amount": "0.004"}, "amount"),
    ("non-numeric amount", {"amount": "a lot"}, "amount"),
    ("float-typed amount", {"amount": 1.5}, "amount"),
    ("integer-typed amount", {"amount": 250}, "amount"),  # issue 11: amounts are strings only, as rates
    ("boolean amount", {"amount": True}, "amount"),
    ("NaN amount", {"amount": "NaN"}, "amount"),
    ("infinite amount", {"amount": "Infinity"}, "amount"),
    ("amount above the maximum", {"amount": "1000000000000000.00"}, "amount"),
    ("amount of 1e30", {"amount": "1e30"}, "amount"),
    ("amount of 1e400", {"amount": "1e400"}, "amount"),
    ("huge integer amount", {"amount": 10**40}, "amount"),
    ("title 301 chars", {"title": "x" * 301}, "title"),
    ("blank title", {"title": "  "}, "title"),
    ("unknown sector", {"sector": "mining"}, "sector"),
    ("unknown currency", {"currency": "ABC", "fx_rate_to_cny": "1.1"}, "currency"),
    ("currency of 4 letters", {"currency": "USDT", "fx_rate_to_cny": "7.1"}, "currency"),
    ("non-CNY without rate", {"currency": "USD"}, "fx_rate_to_cny"),
    ("CNY with a rate", {"fx_rate_to_cny": "7.1"}, "fx_rate_to_cny"),
    ("zero rate", {"currency": "USD", "fx_rate_to_cny": "0"}, "fx_rate_to_cny"),
    ("negative rate", {"currency": "USD", "fx_rate_to_cny": "-7.1"}, "fx_rate_to_cny"),
    ("no parties", {"parties": []}, "parties"),
    ("party country XX", {"parties": [{"name": "A", "country": "XX"}]}, "parties.0.country"),
    ("party country zz1", {"parties": [{"name": "A", "country": "zz1"}]}, "parties.0.country"),
    ("party without name", {"parties": [{"country": "CN"}]}, "parties.0.name"),
    ("party name 201 chars", {"parties": [{"name": "x" * 201, "country": "CN"}]}, "parties.0.name"),
    ("party extra field", {"parties": [{"name": "A", "country": "CN", "share": 0.5}]}, "parties.0.share"),
    ("51 parties", {"parties": [{"name": f"P{i}", "country": "CN"} for i in range(51)]}, "parties"),
    ("bad signed_on", {"signed_on": "21/10/2025"}, "signed_on"),
    ("edition_id 37 chars", {"edition_id": "x" * 37}, "edition_id"),
    ("unknown extra field", {"discount": "10%"}, "discount"),
]


@pytest.mark.parametrize(("change", "field"), [pytest.param(c, f, id=i) for i, c, f in BAD_PROJECTS])
async def test_sign_rejects_bad_input(proj: Deployment, edition: str, change: dict[str, Any], field: str) -> None:
    async with nothing_written(proj, "projects", "/stats", f"/stats?edition_id={edition}"):
        response = await proj["projects"].post("/projects", json=project_body(edition, **change))
        assert_problem(response, 422, "validation_failed", field=field)


@pytest.mark.parametrize("missing", ["edition_id", "title", "sector", "amount", "parties"])
async def test_sign_requires_fields(proj: Deployment, edition: str, missing: str) -> None:
    body = project_body(edition)
    del body[missing]
    async with nothing_written(proj, "projects", "/stats"):
        assert_problem(await proj["projects"].post("/projects", json=body), 422, "validation_failed",
                       field=missing)


async def test_yuan_value_above_what_is_recorded_is_422(proj: Deployment, edition: str) -> None:
    async with nothing_written(proj, "projects", "/stats"):
        body = project_body(edition, amount="999999999999999.99", currency="USD", fx_rate_to_cny="7.1")
        assert_problem(await proj["projects"].post("/projects", json=body), 422, "amount_too_large", field="amount")
    created = await sign(proj, edition, amount="999999999999999.99")
    assert created["amount_cny"] == "999999999999999.99"
    assert (await proj["projects"].post(f"/projects/{created['id']}/withdraw")).status_code == 200


async def test_unknown_edition_and_organization_are_422(proj: Deployment, edition: str) -> None:
    client = proj["projects"]
    async with nothing_written(proj, "projects", "/stats"):
        response = await client.post("/projects", json=project_body(str(uuid.uuid4())))
        assert_problem(response, 422, "unknown_edition", field="edition_id")
        parties = [{"name": "Ghost", "country": "CN", "organization_id": str(uuid.uuid4())}]
        response = await client.post("/projects", json=project_body(edition, parties=parties))
        assert_problem(response, 422, "unknown_organization", field="parties")


async def test_party_of_an_organization_that_left_is_422(proj: Deployment, edition: str) -> None:
    organization_id = await join_known_organization(proj, country="SG")
    parties = [{"name": "Singapore Hokkien Huay Kuan", "country": "SG", "organization_id": organization_id}]
    assert (await sign(proj, edition, parties=parties))["parties"][0]["organization_id"] == organization_id

    left = await proj["network"].post(f"/organizations/{organization_id}/leave")
    assert left.status_code == 200, left.text
    await proj.projects_know_organization(organization_id, "left")
    async with nothing_written(proj, "projects", "/stats", f"/stats?edition_id={edition}"):
        response = await proj["projects"].post("/projects", json=project_body(edition, parties=parties))
        body = assert_problem(response, 422, "organization_not_active", field="parties")
        assert organization_id in body["detail"]


@pytest.mark.parametrize("content", [b"{", b'{"amount": 1.}', b"\"unterminated", b"{'single': 'quotes'}"])
async def test_malformed_json_is_400(proj: Deployment, content: bytes) -> None:
    async with nothing_written(proj, "projects", "/stats"):
        response = await proj["projects"].post("/projects", content=content,
                                               headers={"content-type": "application/json"})
        assert_problem(response, 400, "malformed_json")


# -- auth -------------------------------------------------------------------------------------------------


async def test_writes_need_a_token_with_the_projects_role(proj: Deployment, edition: str) -> None:
    client = proj["projects"]
    existing = await sign(proj, edition)
    async with nothing_written(proj, "projects", "/stats"):
        for path, body in [("/projects", project_body(edition)), (f"/projects/{existing['id']}/withdraw", None)]:
            for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}):
                response = await client.post(path, json=body, headers=headers)
                assert_problem(response, 401, "unauthenticated")
                assert response.headers["www-authenticate"] == "Bearer"
            for token in ("registrar-token", "network-token", "checkin-token"):
                response = await client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
                assert_problem(response, 403, "forbidden")
    headers = {"Authorization": "Bearer projects-token"}
    assert (await client.post("/projects", json=project_body(edition), headers=headers)).status_code == 201
    response = await client.post(f"/projects/{existing['id']}/withdraw", headers=headers)
    assert response.status_code == 200 and response.json()["status"] == "withdrawn"


async def test_aggregates_are_public(proj: Deployment, edition: str) -> None:
    for path in ("/stats", f"/stats?edition_id={edition}", "/projects"):
        response = await proj["projects"].get(path, headers={"Authorization": ""})
        assert response.status_code == 200, (path, response.text)


# -- the replica of editions, learnt from events ----------------------------------------------------------


async def test_edition_unknown_until_its_event_arrives(postgres_env: dict[str, str], tmp_path: Path) -> None:
    """The outbox holds `edition_opened` while registration's relay cannot lead; projects answers
    422 unknown_edition until the event is published and applied, then 201."""
    async with databases(postgres_env) as urls:
        url = asyncpg_dsn(urls["registration"])
        holder = await asyncpg.connect(url)
        try:
            # The relay's leadership lock (shared/outbox.py): held here, registration cannot publish.
            key = zlib.crc32(b"outbox-relay:registration")
            assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", key)
            async with deploy(postgres_env, tmp_path / "data", ["registration", "projects"], urls=urls,
                              poll_interval_seconds=0.1) as d:
                opened = await d["registration"].post("/editions", json=edition_body())
                assert opened.status_code == 201, opened.text
                edition_id = opened.json()["id"]
                assert await d.outbox_count("registration") == 1
                async with nothing_written(d, "projects", "/stats"):
                    response = await d["projects"].post("/projects", json=project_body(edition_id))
                    assert_problem(response, 422, "unknown_edition", field="edition_id")

                assert await holder.fetchval("SELECT pg_advisory_unlock($1)", key)

                async def signed() -> bool:
                    response = await d["projects"].post("/projects", json=project_body(edition_id))
                    if response.status_code == 422:
                        assert_problem(response, 422, "unknown_edition")
                        return False
                    assert response.status_code == 201, response.text
                    return True
                await eventually(signed, timeout=20)
                assert await d.outbox_count("registration") == 0
                stats = (await d["projects"].get("/stats", params={"edition_id": edition_id})).json()
                assert stats["projects"]["signed"] == 1
        finally:
            await holder.close()


# -- pagination and robustness ----------------------------------------------------------------------------


@pytest.mark.parametrize("cursor", ["a", "!!!", "☃"])
async def test_invalid_cursor_is_400(proj: Deployment, cursor: str) -> None:
    assert_problem(await proj["projects"].get("/projects", params={"cursor": cursor}), 400, "invalid_cursor")


@pytest.mark.parametrize(("params", "field"), [({"limit": "0"}, "query.limit"), ({"limit": "501"}, "query.limit"),
                                               ({"sector": "mining"}, "query.sector"),
                                               ({"status": "cancelled"}, "query.status"),
                                               ({"country": "XX"}, "query.country"),
                                               ({"edition_id": "x" * 37}, "query.edition_id")])
async def test_invalid_query_is_422(proj: Deployment, params: dict[str, str], field: str) -> None:
    assert_problem(await proj["projects"].get("/projects", params=params), 422, "validation_failed", field=field)


async def test_no_request_makes_a_server_error(proj: Deployment, edition: str) -> None:
    await assert_no_server_error(proj["projects"], [
        *WEIRD_PATHS,
        ("GET", "/projects/%00", None),
        ("POST", "/projects/%00/withdraw", None),
        ("GET", "/projects?edition_id=%00", None),
        ("GET", "/projects?cursor=AA", None),
        ("GET", "/projects/" + "9" * 3000, None),
        ("DELETE", "/projects", None),
        ("POST", "/projects", project_body(edition, title="nul\u0000")),
        ("POST", "/projects", project_body(edition, parties=[{"name": "\u0000", "country": "CN"}])),
        ("POST", "/projects", project_body(edition, parties=[{"name": "A", "country": "CN",
                                                              "organization_id": "\u0000"}])),
        ("POST", "/projects", project_body(edition, amount="0x10")),
        ("POST", "/projects", project_body(edition, amount="1_000")),
        ("POST", "/projects", project_body(edition, amount=" 12.5 ")),
        ("POST", "/projects", project_body(edition, amount="-0")),
        ("POST", "/projects", project_body(edition, amount="1e-400")),
        ("POST", "/projects", project_body(edition, amount=[1])),
        ("POST", "/projects", project_body(edition, currency="USD", fx_rate_to_cny="1e-30")),
        ("POST", "/projects", project_body(edition, currency="USD", fx_rate_to_cny="99999.99999999")),
        ("POST", "/projects", project_body(edition, currency="USD", fx_rate_to_cny=1e308)),
        ("POST", "/projects", project_body(edition, currency=None)),
        ("POST", "/projects", project_body(edition, currency="usd", fx_rate_to_cny="7")),
        ("POST", "/projects", project_body(edition, parties="CN")),
        ("POST", "/projects", b'{"amount": 1e400}'),
        ("POST", "/projects", b"[]"),
    ])
