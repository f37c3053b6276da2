"""The network API against the real PostgreSQL (embedded bus): the public directory of members."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.bodies import organization_body
from tests.support.deployment import Deployment, deploy, nothing_written
from tests.support.http_checks import WEIRD_PATHS, assert_no_server_error, assert_problem, walk_pages

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
async def net(postgres_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    async with deploy(postgres_env, tmp_path_factory.mktemp("network") / "data", ["network"]) as d:
        yield d


async def join(d: Deployment, **changes: Any) -> dict[str, Any]:
    response = await d["network"].post("/organizations", json=organization_body(**changes))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_join_and_read_the_public_entry(net: Deployment) -> None:
    client = net["network"]
    events = await net.event_count("network")
    body = organization_body(name="Federation of Hokkien Associations", country="sg", kind="hometown_association",
                             contact_email="secret.contact@example.sg")
    response = await client.post("/organizations", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "active"
    assert {k: created[k] for k in ("name", "name_zh", "country", "kind", "city")} == {
        "name": "Federation of Hokkien Associations", "name_zh": body["name_zh"], "country": "SG",
        "kind": "hometown_association", "city": body["city"]}
    assert created["website"].startswith("https://chamber.example.my")
    # The caller holds the network role (here: admin), so it sees the contact e-mail it sent.
    assert created["contact_email"] == "secret.contact@example.sg"
    uuid.UUID(created["id"])
    public = {k: v for k, v in created.items() if k != "contact_email"}

    anonymous = {"Authorization": ""}
    got = await client.get(f"/organizations/{created['id']}", headers=anonymous)
    assert got.status_code == 200
    assert got.json() == {**public, "projects": [], "signed_amount_cny": "0.00"}
    listed = await client.get("/organizations", params={"country": "SG"}, headers=anonymous)
    assert listed.status_code == 200 and public in listed.json()["items"]
    other_role = {"Authorization": "Bearer projects-token"}
    for text in (got.text, listed.text, (await client.get(f"/organizations/{created['id']}", headers=other_role)).text,
                 (await client.get("/organizations", headers=other_role)).text):
        assert "secret.contact" not in text and "contact_email" not in text
    for headers in ({}, {"Authorization": "Bearer network-token"}):
        staff = await client.get(f"/organizations/{created['id']}", headers=headers)
        assert staff.json()["contact_email"] == "secret.contact@example.sg"
        listed = await client.get("/organizations", params={"country": "SG"}, headers=headers)
        assert created in listed.json()["items"]
    assert await net.event_count("network") == events + 1


async def test_list_filters_and_pagination(net: Deployment) -> None:
    client = net["network"]
    plan = [("TH", "chamber_of_commerce"), ("TH", "business_association"), ("TH", "chamber_of_commerce"),
            ("PH", "professional_association"), ("PH", "chamber_of_commerce"), ("TH", "other"),
            ("TH", "hometown_association")]
    made = [await join(net, country=c, kind=k) for c, k in plan]
    gone = made[2]
    assert (await client.post(f"/organizations/{gone['id']}/leave")).status_code == 200

    thai = await walk_pages(client, "/organizations", limit=2, country="th")
    assert {o["id"] for o in thai} == {o["id"] for o in made if o["country"] == "TH"}
    assert [o["id"] for o in await walk_pages(client, "/organizations", limit=1, country="TH")] == [
        o["id"] for o in thai]
    chambers = await walk_pages(client, "/organizations", limit=2, country="TH", kind="chamber_of_commerce",
                                status="active")
    assert [o["id"] for o in chambers] == [made[0]["id"]]
    left = await walk_pages(client, "/organizations", limit=50, country="TH", status="left")
    assert [(o["id"], o["status"]) for o in left] == [(gone["id"], "left")]
    everyone = await walk_pages(client, "/organizations", limit=3)
    assert {o["id"] for o in made} <= {o["id"] for o in everyone}
    assert (await client.get("/organizations", params={"country": "AQ"})).json() == {"items": [],
                                                                                    "next_cursor": None}


async def test_stats_count_active_members_and_their_countries(net: Deployment) -> None:
    client = net["network"]
    before = (await client.get("/stats", headers={"Authorization": ""})).json()["network"]
    first = await join(net, country="NZ")
    await join(net, country="NZ")
    await join(net, country="FJ")
    after = (await client.get("/stats")).json()["network"]
    assert after == {"organizations": before["organizations"] + 3, "countries": before["countries"] + 2}
    left = await client.post(f"/organizations/{first['id']}/leave")
    assert left.status_code == 200 and left.json() == {"id": first["id"], "status": "left"}
    assert (await client.get(f"/organizations/{first['id']}")).json()["status"] == "left"
    assert (await client.get("/stats")).json()["network"] == {"organizations": before["organizations"] + 2,
                                                              "countries": before["countries"] + 2}


async def test_leave_twice_is_409_and_changes_nothing(net: Deployment) -> None:
    client = net["network"]
    created = await join(net)
    assert (await client.post(f"/organizations/{created['id']}/leave")).status_code == 200
    async with nothing_written(net, "network", "/stats"):
        assert_problem(await client.post(f"/organizations/{created['id']}/leave"), 409, "already_left")


async def test_unknown_organization_is_404(net: Deployment) -> None:
    client = net["network"]
    missing = uuid.uuid4()
    assert_problem(await client.get(f"/organizations/{missing}"), 404, "organization_not_found")
    async with nothing_written(net, "network", "/stats"):
        assert_problem(await client.post(f"/organizations/{missing}/leave"), 404, "organization_not_found")


async def test_same_name_in_another_case_and_country(net: Deployment) -> None:
    client = net["network"]
    name = f"Overseas Chinese Association {uuid.uuid4().hex[:6]}"
    await join(net, name=name, country="AU")
    async with nothing_written(net, "network", "/stats"):
        for variant in (name.upper(), name.lower(), f"  {name.replace(' ', '   ')}  "):
            response = await client.post("/organizations", json=organization_body(name=variant, country="au"))
            assert_problem(response, 409, "duplicate_organization")
    # The same name in another country is another organisation.
    assert (await join(net, name=name.upper(), country="NZ"))["country"] == "NZ"


BAD_ORGANIZATIONS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown country XX", {"country": "XX"}, "country"),
    ("malformed country zz1", {"country": "zz1"}, "country"),
    ("unknown kind", {"kind": "club"}, "kind"),
    ("name 201 chars", {"name": "x" * 201}, "name"),
    ("blank name", {"name": " \t "}, "name"),
    ("name_zh 101 chars", {"name_zh": "会" * 101}, "name_zh"),
    ("city 101 chars", {"city": "x" * 101}, "city"),
    ("website not a URL", {"website": "chamber dot my"}, "website"),
    ("website not http", {"website": "ftp://chamber.example.my"}, "website"),
    ("website 301 chars", {"website": "https://example.my/" + "a" * 282}, "website"),
    ("bad contact e-mail", {"contact_email": "office at chamber"}, "contact_email"),
    ("unknown extra field", {"members": 1200}, "members"),
    ("status set by the client", {"status": "suspended"}, "status"),
]


@pytest.mark.parametrize(("change", "field"), [pytest.param(c, f, id=i) for i, c, f in BAD_ORGANIZATIONS])
async def test_join_rejects_bad_input(net: Deployment, change: dict[str, Any], field: str) -> None:
    async with nothing_written(net, "network", "/stats"):
        response = await net["network"].post("/organizations", json=organization_body(**change))
        assert_problem(response, 422, "validation_failed", field=field)


@pytest.mark.parametrize("missing", ["name", "country", "kind"])
async def test_join_requires_fields(net: Deployment, missing: str) -> None:
    body = organization_body()
    del body[missing]
    async with nothing_written(net, "network", "/stats"):
        assert_problem(await net["network"].post("/organizations", json=body), 422, "validation_failed",
                       field=missing)


async def test_malformed_json_is_400(net: Deployment) -> None:
    async with nothing_written(net, "network", "/stats"):
        response = await net["network"].post("/organizations", content=b'{"name": "A", "country": "MY"',
                                             headers={"content-type": "application/json"})
        assert_problem(response, 400, "malformed_json")


async def test_writes_need_a_token_with_the_network_role(net: Deployment) -> None:
    client = net["network"]
    existing = await join(net)
    async with nothing_written(net, "network", "/stats"):
        for path, body in [("/organizations", organization_body()), (f"/organizations/{existing['id']}/leave", None)]:
            for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}):
                response = await client.post(path, json=body, headers=headers)
                assert_problem(response, 401, "unauthenticated")
                assert response.headers["www-authenticate"] == "Bearer"
            for token in ("registrar-token", "projects-token", "checkin-token"):
                response = await client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
                assert_problem(response, 403, "forbidden")
    headers = {"Authorization": "Bearer network-token"}
    assert (await client.post("/organizations", json=organization_body(), headers=headers)).status_code == 201
    assert (await client.post(f"/organizations/{existing['id']}/leave", headers=headers)).status_code == 200


async def test_directory_and_stats_are_public(net: Deployment) -> None:
    created = await join(net)
    for path in ("/stats", "/organizations", f"/organizations/{created['id']}", "/organizations?kind=other"):
        response = await net["network"].get(path, headers={"Authorization": ""})
        assert response.status_code == 200, (path, response.text)


@pytest.mark.parametrize(("params", "status", "code", "field"), [
    ({"cursor": "a"}, 400, "invalid_cursor", None),
    ({"cursor": "%%%"}, 400, "invalid_cursor", None),
    ({"limit": "0"}, 422, "validation_failed", "query.limit"),
    ({"limit": "501"}, 422, "validation_failed", "query.limit"),
    ({"country": "XX"}, 422, "validation_failed", "query.country"),
    ({"kind": "club"}, 422, "validation_failed", "query.kind"),
    ({"status": "gone"}, 422, "validation_failed", "query.status"),
])
async def test_invalid_query(net: Deployment, params: dict[str, str], status: int, code: str,
                             field: str | None) -> None:
    assert_problem(await net["network"].get("/organizations", params=params), status, code, field=field)


async def test_no_request_makes_a_server_error(net: Deployment) -> None:
    await assert_no_server_error(net["network"], [
        *WEIRD_PATHS,
        ("GET", "/organizations/%00", None),
        ("POST", "/organizations/%00/leave", None),
        ("POST", "/organizations/x/suspend", None),
        ("GET", "/organizations?cursor=AA", None),
        ("POST", "/organizations", organization_body(name="nul\u0000")),
        ("POST", "/organizations", organization_body(city="\u0000")),
        ("POST", "/organizations", organization_body(website="https://" + "a" * 288 + ".com")),
        ("POST", "/organizations", organization_body(website="https://" + "ü" * 280 + ".com")),
        ("POST", "/organizations", organization_body(website="https://例子.测试/" + "路" * 270)),
        ("POST", "/organizations", organization_body(website="http://[::1]:99999")),
        ("POST", "/organizations", organization_body(contact_email="a@" + "b" * 250 + ".com")),
        ("POST", "/organizations", organization_body(contact_email="用户@例子.广告")),
        ("POST", "/organizations", organization_body(name="😀" * 200)),
        ("POST", "/organizations", organization_body(name_zh="😀" * 100)),
        ("POST", "/organizations", {"name": None, "country": None, "kind": None}),
    ])
