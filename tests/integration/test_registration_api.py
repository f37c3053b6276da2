"""The registration API against the real PostgreSQL (embedded bus): editions, delegates, stats."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.bodies import delegate_body, edition_body
from tests.support.deployment import Deployment, deploy, nothing_written, open_edition, register
from tests.support.http_checks import WEIRD_PATHS, assert_no_server_error, assert_problem, walk_pages

pytestmark = pytest.mark.postgres

PERSONAL = ("email", "phone", "badge_code")


@pytest.fixture(scope="module")
async def reg(postgres_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    async with deploy(postgres_env, tmp_path_factory.mktemp("registration") / "data", ["registration"]) as d:
        yield d




@pytest.fixture(scope="module")
async def edition(reg: Deployment) -> dict[str, Any]:
    return await open_edition(reg)


# -- editions ---------------------------------------------------------------------------------------------


async def test_rotation_without_host_alternates_from_chongqing(postgres_env: dict[str, str], tmp_path: Any
                                                              ) -> None:
    async with deploy(postgres_env, tmp_path / "data", ["registration"]) as d:
        client = d["registration"]
        first = (await client.get("/editions/next")).json()
        assert first == {"number": 1, "host": "Chongqing", "co_hosts": []}
        hosts = []
        for i in range(5):
            nxt = (await client.get("/editions/next")).json()
            opened = await open_edition(d, year=2025 + i)
            assert (opened["number"], opened["host"]) == (nxt["number"], nxt["host"])
            hosts.append(opened["host"])
        assert hosts == ["Chongqing", "Sichuan", "Chongqing", "Sichuan", "Chongqing"]
        assert [e["number"] for e in (await client.get("/editions")).json()["items"]] == [1, 2, 3, 4, 5]
        # An explicit host is honoured, and the rotation continues from it.
        explicit = await open_edition(d, year=2030, host="Chongqing")
        assert (explicit["number"], explicit["host"]) == (6, "Chongqing")
        assert (await client.get("/editions/next")).json() == {"number": 7, "host": "Sichuan", "co_hosts": []}
        assert (await open_edition(d, year=2031))["host"] == "Sichuan"
        assert await d.event_count("registration") == 7


async def test_open_edition_and_read_it_back(reg: Deployment) -> None:
    client = reg["registration"]
    events = await reg.event_count("registration")
    expected_next = (await client.get("/editions/next")).json()
    created = await open_edition(reg, year=2026, host="Sichuan", city="Chengdu", theme="Innovation")
    assert created["number"] == expected_next["number"]
    assert {k: created[k] for k in ("year", "host", "city", "theme", "starts_on", "ends_on")} == {
        "year": 2026, "host": "Sichuan", "city": "Chengdu", "theme": "Innovation",
        "starts_on": "2026-10-20", "ends_on": "2026-10-22"}
    uuid.UUID(created["id"])

    got = await client.get(f"/editions/{created['id']}", headers={"Authorization": ""})
    assert got.status_code == 200 and got.json() == created

    listed = await client.get("/editions", headers={"Authorization": ""})
    assert listed.status_code == 200
    page = listed.json()
    assert page["next_cursor"] is None and created in page["items"]
    numbers = [e["number"] for e in page["items"]]
    assert numbers == sorted(numbers) and len(numbers) == len(set(numbers))
    assert (await client.get("/editions/next")).json()["number"] == created["number"] + 1
    assert await reg.event_count("registration") == events + 1


@pytest.mark.parametrize(("change", "field"), [
    ({"year": 1999}, "year"),
    ({"year": "twenty"}, "year"),
    ({"host": "Beijing"}, "host"),
    ({"starts_on": "2025-13-01"}, "starts_on"),
    ({"city": "x" * 101}, "city"),
    ({"theme": "x" * 301}, "theme"),
    ({"rooms": 12}, "rooms"),
])
async def test_open_edition_rejects_bad_input(reg: Deployment, change: dict[str, Any], field: str) -> None:
    async with nothing_written(reg, "registration", "/stats", "/editions"):
        response = await reg["registration"].post("/editions", json=edition_body(**change))
        assert_problem(response, 422, "validation_failed", field=field)


@pytest.mark.parametrize("missing", ["year", "starts_on", "ends_on"])
async def test_open_edition_requires_fields(reg: Deployment, missing: str) -> None:
    body = edition_body()
    del body[missing]
    async with nothing_written(reg, "registration", "/editions"):
        assert_problem(await reg["registration"].post("/editions", json=body), 422, "validation_failed",
                       field=missing)


@pytest.mark.parametrize("change", [{"ends_on": "2025-10-19"}, {"starts_on": "2024-10-20"}])
async def test_open_edition_rejects_inconsistent_dates(reg: Deployment, change: dict[str, Any]) -> None:
    async with nothing_written(reg, "registration", "/editions"):
        assert_problem(await reg["registration"].post("/editions", json=edition_body(**change)), 422,
                       "invalid_dates")


async def test_unknown_edition_is_404(reg: Deployment) -> None:
    response = await reg["registration"].get(f"/editions/{uuid.uuid4()}")
    assert_problem(response, 404, "edition_not_found")


# -- delegates --------------------------------------------------------------------------------------------


async def test_register_delegate_and_read_it(reg: Deployment, edition: dict[str, Any]) -> None:
    client = reg["registration"]
    events = await reg.event_count("registration")
    body = delegate_body(edition["id"], email="Tan.WeiMing@Example.com")
    response = await client.post("/delegates", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "registered"
    assert created["badge_code"] and len(created["badge_code"]) >= 16
    assert {k: created[k] for k in ("edition_id", "full_name", "name_zh", "country", "city", "organization",
                                    "category", "phone")} == {
        k: body[k] for k in ("edition_id", "full_name", "name_zh", "country", "city", "organization", "category",
                             "phone")}
    assert created["email"].lower() == body["email"].lower()
    assert created["registered_at"].endswith(("Z", "+00:00"))

    got = (await client.get(f"/delegates/{created['id']}")).json()
    assert got == created
    assert await reg.event_count("registration") == events + 1
    [event] = [e for e in reg.bus_events("registration") if e["subject"] == created["id"]]
    assert event["type"] == "conference.registration.delegate_registered.v1"
    assert event["data"]["country"] == "MY" and event["data"]["edition_id"] == edition["id"]
    for personal in (created["email"], created["phone"], created["full_name"], created["badge_code"]):
        assert personal not in json.dumps(event, ensure_ascii=False), "personal data in an event"


async def test_lower_case_country_is_normalised(reg: Deployment, edition: dict[str, Any]) -> None:
    created = await register(reg, edition["id"], country="de")
    assert created["country"] == "DE"


async def test_personal_data_hidden_from_anonymous_and_shown_to_registrar(reg: Deployment,
                                                                          edition: dict[str, Any]) -> None:
    client = reg["registration"]
    # Listed publicly (with the delegate's consent): anonymous callers see them, without the personal fields.
    created = await register(reg, edition["id"], country="SG", listed_publicly=True)
    anonymous = {"Authorization": ""}
    for headers, shown in [(anonymous, False), ({"Authorization": "Bearer checkin-token"}, False),
                           ({"Authorization": "Bearer unknown-token"}, False),
                           ({"Authorization": "Bearer registrar-token"}, True), ({}, True)]:
        one = await client.get(f"/delegates/{created['id']}", headers=headers)
        assert one.status_code == 200
        listed = await client.get("/delegates", params={"edition_id": edition["id"], "country": "SG"},
                                  headers=headers)
        assert listed.status_code == 200
        [in_list] = [d for d in listed.json()["items"] if d["id"] == created["id"]]
        for entry in (one.json(), in_list):
            assert entry["full_name"] == created["full_name"]
            for key in PERSONAL:
                assert (entry[key] == created[key]) if shown else (entry[key] is None), (headers, key, entry)
    assert created["email"] not in (await client.get("/delegates", headers=anonymous)).text


async def test_list_delegates_filters_and_pagination(reg: Deployment) -> None:
    client = reg["registration"]
    own = await open_edition(reg, year=2027)
    other = await open_edition(reg, year=2028)
    countries = ["CN", "MY", "MY", "TH", "ID", "CN", "MY", "DE", "FR", "MY", "BR"]
    made = [await register(reg, own["id"], country=c) for c in countries]
    await register(reg, other["id"], country="MY")
    cancelled = made[1]
    assert (await client.post(f"/delegates/{cancelled['id']}/cancel")).status_code == 200

    everything = await walk_pages(client, "/delegates", limit=3, edition_id=own["id"])
    assert {d["id"] for d in everything} == {d["id"] for d in made}
    assert all(d["edition_id"] == own["id"] for d in everything)
    single = await walk_pages(client, "/delegates", limit=1, edition_id=own["id"])
    assert [d["id"] for d in single] == [d["id"] for d in everything]
    exact = await client.get("/delegates", params={"edition_id": own["id"], "limit": len(made)})
    assert len(exact.json()["items"]) == len(made) and exact.json()["next_cursor"] is None

    malaysians = await walk_pages(client, "/delegates", limit=2, edition_id=own["id"], country="my")
    assert {d["id"] for d in malaysians} == {d["id"] for d in made if d["country"] == "MY"}
    registered_my = await walk_pages(client, "/delegates", limit=2, edition_id=own["id"], country="MY",
                                     status="registered")
    assert {d["id"] for d in registered_my} == {d["id"] for d in made if d["country"] == "MY"} - {cancelled["id"]}
    only_cancelled = await walk_pages(client, "/delegates", limit=50, edition_id=own["id"], status="cancelled")
    assert [d["id"] for d in only_cancelled] == [cancelled["id"]]
    assert (await client.get("/delegates", params={"edition_id": str(uuid.uuid4())})).json() == {
        "items": [], "next_cursor": None}


async def test_stats_per_edition(reg: Deployment) -> None:
    client = reg["registration"]
    own = await open_edition(reg, year=2029)
    for country in ["CN", "CN", "MY", "TH"]:
        await register(reg, own["id"], country=country)
    gone = await register(reg, own["id"], country="KE")
    response = await client.get("/stats", params={"edition_id": own["id"]}, headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.json() == {"delegates": {"registered": 5, "checked_in": 0, "countries": 4, "pending": 0}}

    cancelled = await client.post(f"/delegates/{gone['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json() == {"id": gone["id"], "status": "cancelled"}
    assert (await client.get(f"/delegates/{gone['id']}")).json()["status"] == "cancelled"
    assert (await client.get("/stats", params={"edition_id": own["id"]})).json() == {
        "delegates": {"registered": 4, "checked_in": 0, "countries": 3, "pending": 0}}
    assert (await client.get("/stats", params={"edition_id": str(uuid.uuid4())})).json() == {
        "delegates": {"registered": 0, "checked_in": 0, "countries": 0, "pending": 0}}
    overall = (await client.get("/stats")).json()["delegates"]
    assert overall["registered"] >= 4


async def test_cancel_twice_is_409_and_changes_nothing(reg: Deployment, edition: dict[str, Any]) -> None:
    client = reg["registration"]
    created = await register(reg, edition["id"])
    assert (await client.post(f"/delegates/{created['id']}/cancel")).status_code == 200
    async with nothing_written(reg, "registration", "/stats", f"/stats?edition_id={edition['id']}"):
        assert_problem(await client.post(f"/delegates/{created['id']}/cancel"), 409, "already_cancelled")


async def test_unknown_delegate_is_404(reg: Deployment) -> None:
    client = reg["registration"]
    missing = uuid.uuid4()
    assert_problem(await client.get(f"/delegates/{missing}"), 404, "delegate_not_found")
    async with nothing_written(reg, "registration", "/stats"):
        assert_problem(await client.post(f"/delegates/{missing}/cancel"), 404, "delegate_not_found")


BAD_DELEGATES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown country XX", {"country": "XX"}, "country"),
    ("malformed country zz1", {"country": "zz1"}, "country"),
    ("numeric country", {"country": 86}, "country"),
    ("full_name 201 chars", {"full_name": "x" * 201}, "full_name"),
    ("blank full_name", {"full_name": "   "}, "full_name"),
    ("name_zh 101 chars", {"name_zh": "名" * 101}, "name_zh"),
    ("organization 201 chars", {"organization": "x" * 201}, "organization"),
    ("bad e-mail", {"email": "not-an-email"}, "email"),
    ("bad phone", {"phone": "call me"}, "phone"),
    ("unknown category", {"category": "vip"}, "category"),
    ("edition_id 37 chars", {"edition_id": "x" * 37}, "edition_id"),
    ("unknown extra field", {"passport": "E1234567"}, "passport"),
    ("null full_name", {"full_name": None}, "full_name"),
]


@pytest.mark.parametrize(("change", "field"), [pytest.param(c, f, id=i) for i, c, f in BAD_DELEGATES])
async def test_register_rejects_bad_input(reg: Deployment, edition: dict[str, Any], change: dict[str, Any],
                                          field: str) -> None:
    body = delegate_body(edition["id"], **change)
    async with nothing_written(reg, "registration", "/stats", f"/stats?edition_id={edition['id']}"):
        assert_problem(await reg["registration"].post("/delegates", json=body), 422, "validation_failed",
                       field=field)


@pytest.mark.parametrize("missing", ["edition_id", "full_name", "country", "email", "category"])
async def test_register_requires_fields(reg: Deployment, edition: dict[str, Any], missing: str) -> None:
    body = delegate_body(edition["id"])
    del body[missing]
    async with nothing_written(reg, "registration", "/stats"):
        assert_problem(await reg["registration"].post("/delegates", json=body), 422, "validation_failed",
                       field=missing)


async def test_register_for_unknown_edition_is_422(reg: Deployment) -> None:
    async with nothing_written(reg, "registration", "/stats"):
        response = await reg["registration"].post("/delegates", json=delegate_body(str(uuid.uuid4())))
        assert_problem(response, 422, "unknown_edition", field="edition_id")


async def test_duplicate_email_in_another_case_is_409(reg: Deployment, edition: dict[str, Any]) -> None:
    client = reg["registration"]
    first = await register(reg, edition["id"], email="li.na@example.org")
    async with nothing_written(reg, "registration", "/stats", f"/stats?edition_id={edition['id']}"):
        again = await client.post("/delegates", json=delegate_body(edition["id"], email="LI.NA@Example.ORG"))
        assert_problem(again, 409, "duplicate_email")
    # The same person may register for another edition.
    later = await open_edition(reg, year=2032)
    assert (await register(reg, later["id"], email="Li.Na@example.org"))["id"] != first["id"]
    # A cancelled registration still holds its e-mail for the edition.
    assert (await client.post(f"/delegates/{first['id']}/cancel")).status_code == 200


@pytest.mark.parametrize("content", [b"{", b'{"full_name": "x",}', b"not json", b'{"a": 1} trailing'])
async def test_malformed_json_is_400(reg: Deployment, content: bytes) -> None:
    async with nothing_written(reg, "registration", "/stats"):
        for path in ("/delegates", "/editions"):
            response = await reg["registration"].post(path, content=content,
                                                      headers={"content-type": "application/json"})
            assert_problem(response, 400, "malformed_json")


@pytest.mark.parametrize("change", [{"full_name": "Tan\u0000Wei"}, {"organization": "\u0000"},
                                    {"edition_id": "\u0000"}])
async def test_nul_characters_are_rejected(reg: Deployment, edition: dict[str, Any], change: dict[str, Any]
                                           ) -> None:
    """U+0000 in a body is a 422 naming the field, on any database (issue 11; it was PostgreSQL's 400); in a
    path, which no schema checks, PostgreSQL's refusal is still a clear 400, not a 500."""
    body = delegate_body(edition["id"], **change)
    async with nothing_written(reg, "registration", "/stats"):
        assert_problem(await reg["registration"].post("/delegates", json=body), 422, "validation_failed",
                       field=next(iter(change)))
    assert_problem(await reg["registration"].get("/delegates/%00"), 400, "invalid_characters")


@pytest.mark.parametrize("body", [[], "a string", 42, None])
async def test_non_object_body_is_422(reg: Deployment, body: Any) -> None:
    async with nothing_written(reg, "registration", "/stats"):
        response = await reg["registration"].post("/delegates", json=body)
        assert_problem(response, 422, "validation_failed")


# -- auth -------------------------------------------------------------------------------------------------


async def test_writes_need_a_token_with_the_registrar_role(reg: Deployment, edition: dict[str, Any]) -> None:
    client = reg["registration"]
    existing = await register(reg, edition["id"])
    async with nothing_written(reg, "registration", "/stats", "/editions"):
        for method, path, body in [("POST", "/delegates", delegate_body(edition["id"])),
                                   ("POST", "/editions", edition_body()),
                                   ("POST", f"/delegates/{existing['id']}/cancel", None)]:
            for headers in ({"Authorization": ""}, {"Authorization": "Bearer nobody-knows-me"},
                            {"Authorization": "Basic dXNlcjpwYXNz"}):
                response = await client.request(method, path, json=body, headers=headers)
                assert_problem(response, 401, "unauthenticated")
                assert response.headers["www-authenticate"] == "Bearer"
            for token in ("checkin-token", "projects-token", "network-token"):
                response = await client.request(method, path, json=body,
                                                headers={"Authorization": f"Bearer {token}"})
                assert_problem(response, 403, "forbidden")
    response = await client.post("/delegates", json=delegate_body(edition["id"]),
                                 headers={"Authorization": "Bearer registrar-token"})
    assert response.status_code == 201, response.text
    assert response.json()["badge_code"]
    assert (await client.post("/editions", json=edition_body(2033),
                              headers={"Authorization": "Bearer registrar-token"})).status_code == 201


async def test_aggregates_are_public(reg: Deployment, edition: dict[str, Any]) -> None:
    client = reg["registration"]
    for path in ("/stats", f"/stats?edition_id={edition['id']}", "/editions", "/editions/next",
                 f"/editions/{edition['id']}"):
        response = await client.get(path, headers={"Authorization": ""})
        assert response.status_code == 200, (path, response.text)


# -- pagination and robustness ----------------------------------------------------------------------------


@pytest.mark.parametrize("cursor", ["a", "!!!", "%%%", "☃", "x" * 201])
async def test_invalid_cursor_is_400(reg: Deployment, cursor: str) -> None:
    response = await reg["registration"].get("/delegates", params={"cursor": cursor})
    if len(cursor) > 200:
        assert_problem(response, 422, "validation_failed", field="query.cursor")
    else:
        assert_problem(response, 400, "invalid_cursor")


@pytest.mark.parametrize("limit", ["0", "501", "-1", "ten", "1.5"])
async def test_invalid_limit_is_422(reg: Deployment, limit: str) -> None:
    response = await reg["registration"].get("/delegates", params={"limit": limit})
    assert_problem(response, 422, "validation_failed", field="query.limit")


@pytest.mark.parametrize(("params", "field"), [({"country": "XX"}, "query.country"),
                                               ({"country": "zz1"}, "query.country"),
                                               ({"status": "vip"}, "query.status")])
async def test_invalid_filters_are_422(reg: Deployment, params: dict[str, str], field: str) -> None:
    assert_problem(await reg["registration"].get("/delegates", params=params), 422, "validation_failed",
                   field=field)


async def test_no_request_makes_a_server_error(reg: Deployment, edition: dict[str, Any]) -> None:
    edition_id = edition["id"]
    await assert_no_server_error(reg["registration"], [
        *WEIRD_PATHS,
        ("GET", "/delegates/%00", None),
        ("POST", "/delegates/%00/cancel", None),
        ("GET", "/editions/%00", None),
        ("GET", "/editions/" + "x" * 5000, None),
        ("GET", "/delegates/" + "é" * 50, None),
        ("GET", "/delegates?edition_id=%00", None),
        ("GET", "/delegates?cursor=%00", None),
        ("GET", "/delegates?limit=99999999999999999999999", None),
        ("GET", "/delegates?country=", None),
        ("GET", "/editions/next/extra", None),
        ("DELETE", "/delegates", None),
        ("PATCH", "/editions", b"{}"),
        ("POST", "/delegates", delegate_body(edition_id, full_name="nul\u0000byte")),
        ("POST", "/delegates", delegate_body(edition_id, organization="\u0000")),
        ("POST", "/delegates", delegate_body(edition_id, edition_id="\u0000")),
        ("POST", "/delegates", delegate_body(edition_id, full_name="😀" * 200)),
        ("POST", "/delegates", delegate_body(edition_id, email="a@" + "b" * 250 + ".com")),
        ("POST", "/delegates", {"edition_id": edition_id, "full_name": {"nested": [1, 2]}}),
        ("POST", "/delegates", b"\xff\xfe\x00"),
        ("POST", "/delegates", b'{"a":' * 10000),
        ("POST", "/editions", edition_body(year=10**40)),
        ("POST", "/editions", b'{"year": 1e400, "starts_on": "2025-10-20", "ends_on": "2025-10-22"}'),
        ("POST", "/editions", b'{"year": NaN, "starts_on": "2025-10-20", "ends_on": "2025-10-22"}'),
        ("POST", "/editions", edition_body(city="\u0000")),
        ("POST", "/editions", edition_body(starts_on="0000-00-00")),
    ])
