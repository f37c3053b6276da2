"""Projects, the complete domain, on the real PostgreSQL (embedded bus): exact money over many projects,
amendments (old and new in `project_amended`), every bad input a clear 4xx that changes nothing, the CSV
export, Idempotency-Key and roles on the new endpoints."""

from __future__ import annotations

import csv
import io
import json
import random
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from services.projects import api as projects_api
from tests.support.bodies import edition_body, organization_body, project_body
from tests.support.deployment import Deployment, deploy, nothing_written
from tests.support.http_checks import assert_problem, walk_pages

pytestmark = pytest.mark.postgres

D = Decimal
AMENDED = "conference.projects.project_amended.v1"


@pytest.fixture(scope="module")
async def proj(postgres_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    data_dir = tmp_path_factory.mktemp("projects-domain") / "data"
    async with deploy(postgres_env, data_dir, ["registration", "network", "projects"]) as d:
        yield d


async def open_edition(d: Deployment, year: int) -> str:
    response = await d["registration"].post("/editions", json=edition_body(year))
    assert response.status_code == 201, response.text
    edition_id: str = response.json()["id"]
    await d.projects_know_edition(edition_id)
    return edition_id


async def join(d: Deployment, **changes: Any) -> str:
    response = await d["network"].post("/organizations", json=organization_body(**changes))
    assert response.status_code == 201, response.text
    organization_id: str = response.json()["id"]
    await d.projects_know_organization(organization_id, "active")
    return organization_id


async def sign(d: Deployment, edition_id: str, **changes: Any) -> dict[str, Any]:
    response = await d["projects"].post("/projects", json=project_body(edition_id, **changes))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def amend(d: Deployment, project_id: str, **changes: Any) -> dict[str, Any]:
    response = await d["projects"].patch(f"/projects/{project_id}", json=changes)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def figures(d: Deployment, edition_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await d["projects"].get("/stats", params={"edition_id": edition_id})).json()["projects"]
    return body


@pytest.fixture(scope="module")
async def edition(proj: Deployment) -> str:
    return await open_edition(proj, 2025)


# -- money, exactly -------------------------------------------------------------------------------------


async def test_66_projects_sum_to_exactly_43_79_billion(proj: Deployment) -> None:
    """The first edition's headline: 66 projects, 43.79 billion yuan, to the fen, whatever the split."""
    own = await open_edition(proj, 2030)
    rng = random.Random(66)
    total = D("43790000000.00")
    amounts = [D(rng.randrange(1, 1_000_000_000_00)) / 100 for _ in range(65)]
    amounts.append(total - sum(amounts))
    assert amounts[-1] > 0 and len(amounts) == 66
    sectors = ("green_energy", "digital_economy", "energy", "manufacturing", "social_livelihood")
    for i, amount in enumerate(amounts):
        await sign(proj, own, amount=f"{amount:.2f}", sector=sectors[i % len(sectors)])
    stats = await figures(proj, own)
    assert stats["signed"] == 66
    assert stats["amount_cny"] == "43790000000.00"
    assert sum(D(s["amount_cny"]) for s in stats["by_sector"].values()) == total
    assert sum(s["count"] for s in stats["by_sector"].values()) == 66
    for i, sector in enumerate(sectors):
        assert stats["by_sector"][sector]["amount_cny"] == f"{sum(amounts[i::len(sectors)], D(0)):.2f}"


async def test_fen_and_ten_billions_summed_over_many_projects_stay_exact(proj: Deployment) -> None:
    own = await open_edition(proj, 2031)
    for _ in range(40):
        await sign(proj, own, amount="0.01", sector="finance")
        await sign(proj, own, amount="9999999999.99", sector="energy")
    stats = await figures(proj, own)
    assert stats["amount_cny"] == "400000000000.00"  # 40 × 0.01 + 40 × 9,999,999,999.99
    assert stats["by_sector"]["finance"] == {"count": 40, "amount_cny": "0.40"}
    assert stats["by_sector"]["energy"] == {"count": 40, "amount_cny": "399999999999.60"}


@pytest.mark.parametrize(("amount", "rate", "amount_cny"), [
    ("0.01", "0.5", "0.01"),                 # 0.005: half a fen rounds up
    ("0.01", "0.49999999", "0.00"),          # just under half a fen rounds down
    ("1.00", "0.02500000", "0.03"),          # half up, not half to even
    ("100.00", "7.12345678", "712.35"),      # 712.345678
    ("9999999999.99", "0.00000001", "100.00"),
])
async def test_fx_conversion_rounds_half_up_to_the_fen(proj: Deployment, edition: str, amount: str, rate: str,
                                                      amount_cny: str) -> None:
    created = await sign(proj, edition, amount=amount, currency="USD", fx_rate_to_cny=rate)
    assert created["amount_cny"] == amount_cny
    assert D(created["fx_rate_to_cny"]) == D(rate)  # the rate is kept exactly
    assert (await proj["projects"].get(f"/projects/{created['id']}")).json()["amount_cny"] == amount_cny


async def test_a_rate_with_more_than_8_decimals_is_refused(proj: Deployment, edition: str) -> None:
    async with nothing_written(proj, "projects", "/stats"):
        body = project_body(edition, currency="USD", fx_rate_to_cny="7.123456789")
        assert_problem(await proj["projects"].post("/projects", json=body), 422, "validation_failed",
                       field="fx_rate_to_cny")


# -- amending -------------------------------------------------------------------------------------------


async def test_amending_amount_sector_and_parties_moves_the_figures_and_emits_old_and_new(
        proj: Deployment) -> None:
    own = await open_edition(proj, 2032)
    member = await join(proj, country="KZ")
    created = await sign(proj, own, amount="1000.00", sector="energy")
    before = await figures(proj, own)
    assert before["by_sector"]["energy"] == {"count": 1, "amount_cny": "1000.00"}

    parties = [{"name": "Astana Green Power", "country": "KZ", "organization_id": member},
               {"name": "Chongqing Wind", "country": "CN"}]
    amended = await amend(proj, created["id"], amount="2500.50", sector="green_energy", parties=parties,
                          title="Astana wind farm")
    assert amended["amount"] == amended["amount_cny"] == "2500.50"
    assert amended["sector"] == "green_energy" and amended["title"] == "Astana wind farm"
    assert amended["parties"] == [parties[0], {**parties[1], "organization_id": None}]
    assert amended["amended_at"] is not None and amended["status"] == "signed"
    assert (await proj["projects"].get(f"/projects/{created['id']}")).json() == amended

    after = await figures(proj, own)
    assert after["signed"] == 1 and after["amount_cny"] == "2500.50"
    assert after["by_sector"]["energy"] == {"count": 0, "amount_cny": "0.00"}
    assert after["by_sector"]["green_energy"] == {"count": 1, "amount_cny": "2500.50"}
    kz = await walk_pages(proj["projects"], "/projects", limit=10, edition_id=own, country="KZ")
    assert [p["id"] for p in kz] == [created["id"]]
    assert await walk_pages(proj["projects"], "/projects", limit=10, edition_id=own, country="MY") == []

    await proj.event_count("projects")
    event = [e for e in proj.bus_events("projects") if e["type"] == AMENDED and e["subject"] == created["id"]]
    assert len(event) == 1
    data = event[0]["data"]
    assert {k: data[k] for k in ("sector", "status", "amount_cny", "countries", "organization_ids", "title")} == {
        "sector": "green_energy", "status": "signed", "amount_cny": "2500.50", "countries": ["CN", "KZ"],
        "organization_ids": [member], "title": "Astana wind farm"}
    assert data["previous"] == {"sector": "energy", "status": "signed", "amount_cny": "1000.00",
                                "countries": ["CN", "MY"], "organization_ids": []}


async def test_amending_a_foreign_amount_keeps_its_rate_and_a_new_currency_needs_one(
        proj: Deployment, edition: str) -> None:
    created = await sign(proj, edition, amount="1000.00", currency="USD", fx_rate_to_cny="7.1")
    assert (await amend(proj, created["id"], amount="2000.00"))["amount_cny"] == "14200.00"
    assert (await amend(proj, created["id"], fx_rate_to_cny="7.25"))["amount_cny"] == "14500.00"
    async with nothing_written(proj, "projects", "/stats"):
        response = await proj["projects"].patch(f"/projects/{created['id']}", json={"currency": "EUR"})
        assert_problem(response, 422, "fx_rate_required", field="fx_rate_to_cny")
        response = await proj["projects"].patch(f"/projects/{created['id']}", json={"fx_rate_to_cny": None})
        assert_problem(response, 422, "fx_rate_required", field="fx_rate_to_cny")
        response = await proj["projects"].patch(f"/projects/{created['id']}",
                                                json={"currency": "CNY", "fx_rate_to_cny": "7.1"})
        assert_problem(response, 422, "fx_rate_not_applicable", field="fx_rate_to_cny")
    euro = await amend(proj, created["id"], currency="EUR", fx_rate_to_cny="7.80000001")
    assert euro["currency"] == "EUR" and euro["amount_cny"] == "15600.00"
    yuan = await amend(proj, created["id"], currency="CNY")
    assert yuan["fx_rate_to_cny"] is None and yuan["amount_cny"] == yuan["amount"] == "2000.00"


async def test_an_amendment_that_changes_nothing_writes_nothing(proj: Deployment, edition: str) -> None:
    created = await sign(proj, edition)
    async with nothing_written(proj, "projects", "/stats"):
        same = await amend(proj, created["id"], amount=created["amount"], sector=created["sector"],
                           parties=[{k: v for k, v in p.items() if v is not None} for p in created["parties"]])
        assert same == created


async def test_a_member_suspended_after_signing_stays_a_party_but_cannot_be_added(
        proj: Deployment, edition: str) -> None:
    kept = await join(proj, country="TH")
    added = await join(proj, country="VN")
    parties = [{"name": "Thai-Chinese Chamber", "country": "TH", "organization_id": kept}]
    created = await sign(proj, edition, parties=parties)
    for member in (kept, added):
        assert (await proj["network"].post(f"/organizations/{member}/suspend")).status_code == 200
        await proj.projects_know_organization(member, "suspended")
    # Amending other fields (or keeping the party list) is fine: the member signed while active.
    assert (await amend(proj, created["id"], amount="99.00", parties=parties))["amount_cny"] == "99.00"
    async with nothing_written(proj, "projects", "/stats"):
        response = await proj["projects"].patch(f"/projects/{created['id']}", json={"parties": [
            *parties, {"name": "Hanoi Association", "country": "VN", "organization_id": added}]})
        assert_problem(response, 422, "organization_not_active", field="parties")


async def test_a_withdrawn_project_cannot_be_amended(proj: Deployment, edition: str) -> None:
    created = await sign(proj, edition)
    assert (await proj["projects"].post(f"/projects/{created['id']}/withdraw")).status_code == 200
    async with nothing_written(proj, "projects", "/stats", f"/stats?edition_id={edition}"):
        response = await proj["projects"].patch(f"/projects/{created['id']}", json={"amount": "5.00"})
        assert_problem(response, 409, "project_withdrawn")
        assert_problem(await proj["projects"].patch(f"/projects/{uuid.uuid4()}", json={"amount": "5.00"}),
                       404, "project_not_found")


BAD_AMENDMENTS: list[tuple[str, dict[str, Any], str]] = [
    ("nothing to amend", {}, "body"),
    ("unknown sector", {"sector": "mining"}, "sector"),
    ("negative amount", {"amount": "-5.00"}, "amount"),
    ("zero amount", {"amount": "0.00"}, "amount"),
    ("NaN amount", {"amount": "NaN"}, "amount"),
    ("1e309 amount", {"amount": "1e309"}, "amount"),
    ("infinite amount", {"amount": "-Infinity"}, "amount"),
    ("float amount", {"amount": 12.5}, "amount"),
    ("amount above the maximum", {"amount": "1000000000000000.00"}, "amount"),
    ("unknown currency", {"currency": "XYZ", "fx_rate_to_cny": "1"}, "currency"),
    ("NaN rate", {"fx_rate_to_cny": "NaN"}, "fx_rate_to_cny"),
    ("zero rate", {"fx_rate_to_cny": "0"}, "fx_rate_to_cny"),
    ("null title", {"title": None}, "body"),
    ("null amount", {"amount": None}, "body"),
    ("no parties", {"parties": []}, "parties"),
    ("party in country XX", {"parties": [{"name": "A", "country": "XX"}]}, "parties.0.country"),
    ("edition cannot move", {"edition_id": str(uuid.uuid4())}, "edition_id"),
    ("status is not amended", {"status": "withdrawn"}, "status"),
    ("amount_cny is computed", {"amount_cny": "1.00"}, "amount_cny"),
]


@pytest.mark.parametrize(("change", "field"), [pytest.param(c, f, id=i) for i, c, f in BAD_AMENDMENTS])
async def test_amend_rejects_bad_input(proj: Deployment, edition: str, change: dict[str, Any], field: str) -> None:
    created = await sign(proj, edition)
    async with nothing_written(proj, "projects", "/stats", f"/stats?edition_id={edition}"):
        response = await proj["projects"].patch(f"/projects/{created['id']}", json=change)
        assert_problem(response, 422, "validation_failed", field=field)
    assert (await proj["projects"].get(f"/projects/{created['id']}")).json() == created


async def test_amend_rejects_bad_references_and_values_it_only_knows_in_context(
        proj: Deployment, edition: str) -> None:
    created = await sign(proj, edition)
    left = await join(proj, country="PH")
    assert (await proj["network"].post(f"/organizations/{left}/leave")).status_code == 200
    await proj.projects_know_organization(left, "left")
    cases: list[tuple[dict[str, Any], int, str, str]] = [
        ({"parties": [{"name": "Ghost", "country": "CN", "organization_id": str(uuid.uuid4())}]}, 422,
         "unknown_organization", "parties"),
        ({"parties": [{"name": "Gone", "country": "PH", "organization_id": left}]}, 422,
         "organization_not_active", "parties"),
        ({"currency": "USD"}, 422, "fx_rate_required", "fx_rate_to_cny"),
        ({"fx_rate_to_cny": "7.1"}, 422, "fx_rate_not_applicable", "fx_rate_to_cny"),
        ({"amount": "999999999999999.99", "currency": "USD", "fx_rate_to_cny": "2"}, 422, "amount_too_large",
         "amount"),
    ]
    async with nothing_written(proj, "projects", "/stats", f"/stats?edition_id={edition}"):
        for change, status, code, field in cases:
            response = await proj["projects"].patch(f"/projects/{created['id']}", json=change)
            assert_problem(response, status, code, field=field)
    assert (await proj["projects"].get(f"/projects/{created['id']}")).json() == created


# -- signing: the inputs the issue names ------------------------------------------------------------------


async def test_sign_rejects_each_named_bad_input(proj: Deployment, edition: str) -> None:
    suspended = await join(proj, country="ID")
    assert (await proj["network"].post(f"/organizations/{suspended}/suspend")).status_code == 200
    await proj.projects_know_organization(suspended, "suspended")
    client = proj["projects"]
    schema_errors = [({"sector": "mining"}, "sector"), ({"amount": "-1"}, "amount"), ({"amount": "0"}, "amount"),
                     ({"amount": "NaN"}, "amount"), ({"amount": "1e309"}, "amount"),
                     ({"currency": "XXY", "fx_rate_to_cny": "1"}, "currency"),
                     ({"currency": "USD"}, "fx_rate_to_cny")]
    async with nothing_written(proj, "projects", "/stats", f"/stats?edition_id={edition}"):
        for change, field in schema_errors:
            response = await client.post("/projects", json=project_body(edition, **change))
            assert_problem(response, 422, "validation_failed", field=field)
        # A JSON number too large for a float is infinity to the parser: refused, not stored.
        raw = json.dumps(project_body(edition)).replace('"1250000.00"', "1e309").encode()
        response = await client.post("/projects", content=raw, headers={"content-type": "application/json"})
        assert_problem(response, 422, "validation_failed", field="amount")
        response = await client.post("/projects", json=project_body(str(uuid.uuid4())))
        assert_problem(response, 422, "unknown_edition", field="edition_id")
        for organization_id, code in ((str(uuid.uuid4()), "unknown_organization"),
                                      (suspended, "organization_not_active")):
            parties = [{"name": "Member", "country": "ID", "organization_id": organization_id}]
            response = await client.post("/projects", json=project_body(edition, parties=parties))
            assert_problem(response, 422, code, field="parties")


# -- the CSV export -------------------------------------------------------------------------------------


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_csv_export_has_every_filtered_project_with_exact_amounts(
        proj: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    own = await open_edition(proj, 2033)
    made = [
        await sign(proj, own, amount="43790000000.00", sector="energy",
                   parties=[{"name": "Chongqing Energy", "country": "CN"}, {"name": "Almaty", "country": "KZ"}]),
        await sign(proj, own, amount="0.01", sector="finance", title="=HYPERLINK(\"http://x\")"),
        await sign(proj, own, amount="100.00", currency="USD", fx_rate_to_cny="7.12345678", sector="energy",
                   parties=[{"name": "Kuala Lumpur, \"KL\" Sdn Bhd", "country": "MY"}]),
        await sign(proj, own, amount="5.00", sector="energy"),
    ]
    assert (await proj["projects"].post(f"/projects/{made[3]['id']}/withdraw")).status_code == 200
    monkeypatch.setattr(projects_api, "EXPORT_BATCH", 2)  # several batches, keyset-paged

    response = await proj["projects"].get("/projects/export.csv", params={"edition_id": own},
                                          headers={"Authorization": ""})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = read_csv(response.text)
    assert list(rows[0]) == list(projects_api.EXPORT_COLUMNS)
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {p["id"] for p in made} and len(rows) == 4
    assert by_id[made[0]["id"]]["amount_cny"] == "43790000000.00"
    assert by_id[made[0]["id"]]["countries"] == "CN;KZ"
    assert by_id[made[1]["id"]]["amount_cny"] == "0.01"
    assert by_id[made[1]["id"]]["title"] == "'=HYPERLINK(\"http://x\")"  # defused for spreadsheets
    usd = by_id[made[2]["id"]]
    assert (usd["amount"], usd["currency"], usd["fx_rate_to_cny"], usd["amount_cny"]) == (
        "100.00", "USD", "7.12345678", "712.35")
    assert usd["parties"] == "Kuala Lumpur, \"KL\" Sdn Bhd (MY)"
    assert by_id[made[3]["id"]]["status"] == "withdrawn" and by_id[made[3]["id"]]["withdrawn_at"]

    signed_energy = read_csv((await proj["projects"].get("/projects/export.csv", params={
        "edition_id": own, "sector": "energy", "status": "signed"})).text)
    assert {r["id"] for r in signed_energy} == {made[0]["id"], made[2]["id"]}
    kazakh = read_csv((await proj["projects"].get("/projects/export.csv", params={"country": "kz"})).text)
    assert made[0]["id"] in {r["id"] for r in kazakh} and made[2]["id"] not in {r["id"] for r in kazakh}
    total = sum(D(r["amount_cny"]) for r in rows if r["status"] == "signed")
    assert f"{total:.2f}" == (await figures(proj, own))["amount_cny"]


async def test_csv_export_of_nothing_is_a_header_and_bad_filters_are_422(proj: Deployment) -> None:
    response = await proj["projects"].get("/projects/export.csv", params={"edition_id": str(uuid.uuid4())})
    assert response.status_code == 200 and response.text.strip() == ",".join(projects_api.EXPORT_COLUMNS)
    for params, field in (({"sector": "mining"}, "query.sector"), ({"country": "XX"}, "query.country"),
                          ({"status": "gone"}, "query.status")):
        assert_problem(await proj["projects"].get("/projects/export.csv", params=params), 422,
                       "validation_failed", field=field)


# -- Idempotency-Key and roles ----------------------------------------------------------------------------


async def test_a_signing_retried_with_its_key_is_recorded_once(proj: Deployment, edition: str) -> None:
    client = proj["projects"]
    body = project_body(edition, title=f"Retried {uuid.uuid4().hex[:6]}")
    first = await client.post("/projects", json=body, headers={"Idempotency-Key": "sign-1"})
    events = await proj.event_count("projects")
    stats = await figures(proj, edition)
    retry = await client.post("/projects", json=body, headers={"Idempotency-Key": "sign-1"})
    assert first.status_code == retry.status_code == 201 and retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert await proj.scalar("projects", "SELECT count(*) FROM projects WHERE title = :t", t=body["title"]) == 1
    assert await proj.event_count("projects") == events and await figures(proj, edition) == stats
    other = await client.post("/projects", json={**body, "amount": "2.00"}, headers={"Idempotency-Key": "sign-1"})
    assert_problem(other, 409, "idempotency_key_reused")


async def test_a_withdrawal_retried_with_its_key_gets_the_first_answer(proj: Deployment, edition: str) -> None:
    created = await sign(proj, edition)
    path = f"/projects/{created['id']}/withdraw"
    first = await proj["projects"].post(path, headers={"Idempotency-Key": "withdraw-1"})
    events = await proj.event_count("projects")
    retry = await proj["projects"].post(path, headers={"Idempotency-Key": "withdraw-1"})
    assert first.status_code == retry.status_code == 200 and retry.json() == first.json()
    assert await proj.event_count("projects") == events
    # Without the key, a second withdrawal is what it is: a 409.
    assert_problem(await proj["projects"].post(path), 409, "already_withdrawn")


async def test_amending_needs_the_projects_role(proj: Deployment, edition: str) -> None:
    created = await sign(proj, edition)
    path = f"/projects/{created['id']}"
    async with nothing_written(proj, "projects", "/stats"):
        for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}):
            assert_problem(await proj["projects"].patch(path, json={"amount": "3.00"}, headers=headers),
                           401, "unauthenticated")
        for token in ("registrar-token", "network-token", "checkin-token"):
            response = await proj["projects"].patch(path, json={"amount": "3.00"},
                                                    headers={"Authorization": f"Bearer {token}"})
            assert_problem(response, 403, "forbidden")
    response = await proj["projects"].patch(path, json={"amount": "3.00"},
                                            headers={"Authorization": "Bearer projects-token"})
    assert response.status_code == 200 and response.json()["amount_cny"] == "3.00"
