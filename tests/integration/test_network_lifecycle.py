"""The network, the complete domain, on the real PostgreSQL (embedded bus): the membership lifecycle,
PATCH with old and new values, names unique per country, what each member signed (kept from the
projects topic), and the projects service's replica of members catching up."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from devkit.waiting import eventually
from shared.db.notifications import asyncpg_dsn
from tests.support.bodies import edition_body, organization_body, project_body
from tests.support.deployment import Deployment, databases, deploy, nothing_written
from tests.support.http_checks import assert_no_server_error, assert_problem

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
async def world(postgres_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[Deployment]:
    data_dir = tmp_path_factory.mktemp("network-lifecycle") / "data"
    async with deploy(postgres_env, data_dir, ["registration", "projects", "network"]) as d:
        yield d


@pytest.fixture(scope="module")
async def edition(world: Deployment) -> str:
    response = await world["registration"].post("/editions", json=edition_body(2025))
    assert response.status_code == 201, response.text
    edition_id: str = response.json()["id"]
    await world.projects_know_edition(edition_id)
    return edition_id


async def join(d: Deployment, **changes: Any) -> dict[str, Any]:
    response = await d["network"].post("/organizations", json=organization_body(**changes))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def network_figures(d: Deployment) -> dict[str, int]:
    figures: dict[str, int] = (await d["network"].get("/stats")).json()["network"]
    return figures


def last_event(d: Deployment, subject: str) -> dict[str, Any]:
    event: dict[str, Any] = [e for e in d.bus_events("network") if e["subject"] == subject][-1]
    return event


# -- the lifecycle --------------------------------------------------------------------------------------


async def test_suspend_reinstate_leave_move_the_figures_and_carry_old_and_new(world: Deployment) -> None:
    client = world["network"]
    country = "UZ"
    before = await network_figures(world)
    member = await join(world, country=country)
    assert await network_figures(world) == {"organizations": before["organizations"] + 1,
                                            "countries": before["countries"] + 1}
    steps = [("suspend", "suspended", "organization_suspended", "active", -1),
             ("reinstate", "active", "organization_reinstated", "suspended", 0),
             ("suspend", "suspended", "organization_suspended", "active", -1),
             ("leave", "left", "organization_left", "suspended", -1)]
    for action, status, event_name, previous, delta in steps:
        response = await client.post(f"/organizations/{member['id']}/{action}")
        assert response.status_code == 200, response.text
        assert response.json() == {"id": member["id"], "status": status}
        assert (await client.get(f"/organizations/{member['id']}")).json()["status"] == status
        assert await network_figures(world) == {"organizations": before["organizations"] + 1 + delta,
                                                "countries": before["countries"] + 1 + delta}
        await world.event_count("network")
        event = last_event(world, member["id"])
        assert event["type"] == f"conference.network.{event_name}.v1"
        assert event["data"]["status"] == status and event["data"]["country"] == country
        assert event["data"]["previous"] == {"country": country, "kind": "chamber_of_commerce", "status": previous}
        assert "contact_email" not in str(event)


@pytest.mark.parametrize(("state", "action", "code"), [
    ("active", "reinstate", "not_suspended"),
    ("suspended", "suspend", "already_suspended"),
    ("left", "suspend", "already_left"),
    ("left", "reinstate", "already_left"),
    ("left", "leave", "already_left"),
])
async def test_invalid_transitions_are_409s_that_change_nothing(world: Deployment, state: str, action: str,
                                                                code: str) -> None:
    member = await join(world)
    for step in {"active": [], "suspended": ["suspend"], "left": ["leave"]}[state]:
        assert (await world["network"].post(f"/organizations/{member['id']}/{step}")).status_code == 200
    async with nothing_written(world, "network", "/stats"):
        response = await world["network"].post(f"/organizations/{member['id']}/{action}")
        body = assert_problem(response, 409, code)
        assert state in body["detail"] or action in body["detail"] or "left" in body["detail"]
    assert (await world["network"].get(f"/organizations/{member['id']}")).json()["status"] == state


async def test_unknown_organization_is_404_for_every_action(world: Deployment) -> None:
    missing = uuid.uuid4()
    async with nothing_written(world, "network", "/stats"):
        for action in ("suspend", "reinstate", "leave"):
            assert_problem(await world["network"].post(f"/organizations/{missing}/{action}"), 404,
                           "organization_not_found")
        assert_problem(await world["network"].patch(f"/organizations/{missing}", json={"city": "Ipoh"}), 404,
                       "organization_not_found")


async def test_a_member_that_left_frees_its_name_to_join_again(world: Deployment) -> None:
    name = f"Hakka Association {uuid.uuid4().hex[:6]}"
    first = await join(world, name=name, country="MU")
    async with nothing_written(world, "network", "/stats"):
        assert_problem(await world["network"].post("/organizations", json=organization_body(
            name=name.lower(), country="MU")), 409, "duplicate_organization")
    assert (await world["network"].post(f"/organizations/{first['id']}/suspend")).status_code == 200
    async with nothing_written(world, "network", "/stats"):  # a suspended member still holds its name
        assert_problem(await world["network"].post("/organizations", json=organization_body(
            name=name, country="MU")), 409, "duplicate_organization")
    assert (await world["network"].post(f"/organizations/{first['id']}/leave")).status_code == 200
    again = await join(world, name=name.upper(), country="MU")
    assert again["id"] != first["id"] and again["status"] == "active"


# -- PATCH ----------------------------------------------------------------------------------------------


async def test_patch_country_and_kind_emits_old_and_new_and_moves_the_countries(world: Deployment) -> None:
    client = world["network"]
    member = await join(world, country="BN", kind="chamber_of_commerce")
    before = await network_figures(world)
    events = await world.event_count("network")
    response = await client.patch(f"/organizations/{member['id']}", json={"country": "bt", "kind": "other",
                                                                         "city": "Thimphu"})
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["country"], changed["kind"], changed["city"]) == ("BT", "other", "Thimphu")
    assert {k: v for k, v in changed.items() if k not in ("country", "kind", "city")} == {
        k: v for k, v in member.items() if k not in ("country", "kind", "city")}
    assert await network_figures(world) == before  # BN had one member (now none), BT gains one
    assert await world.event_count("network") == events + 1
    event = last_event(world, member["id"])
    assert event["type"] == "conference.network.organization_updated.v1"
    assert (event["data"]["country"], event["data"]["kind"], event["data"]["status"]) == ("BT", "other", "active")
    assert event["data"]["previous"] == {"country": "BN", "kind": "chamber_of_commerce", "status": "active"}
    got = (await client.get(f"/organizations/{member['id']}", headers={"Authorization": ""})).json()
    assert got["country"] == "BT" and got["city"] == "Thimphu"


async def test_patch_of_contact_details_only_emits_nothing_and_null_clears(world: Deployment) -> None:
    client = world["network"]
    member = await join(world)
    events = await world.event_count("network")
    response = await client.patch(f"/organizations/{member['id']}", json={
        "contact_email": "new.office@example.my", "website": None, "name_zh": "马来西亚中华总商会"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["contact_email"] == "new.office@example.my" and body["website"] is None
    assert body["name_zh"] == "马来西亚中华总商会"
    assert await world.event_count("network") == events
    public = (await client.get(f"/organizations/{member['id']}", headers={"Authorization": ""})).text
    assert "new.office" not in public


async def test_patch_keeps_names_unique_per_country(world: Deployment) -> None:
    client = world["network"]
    name = f"Teochew Association {uuid.uuid4().hex[:6]}"
    await join(world, name=name, country="KH")
    elsewhere = await join(world, name=name, country="LA")
    other = await join(world, country="KH")
    async with nothing_written(world, "network", "/stats"):
        response = await client.patch(f"/organizations/{elsewhere['id']}", json={"country": "KH"})
        assert_problem(response, 409, "duplicate_organization")
        response = await client.patch(f"/organizations/{other['id']}", json={"name": f"  {name.swapcase()} "})
        assert_problem(response, 409, "duplicate_organization")
    # Renaming itself (another case) is not a clash with itself.
    response = await client.patch(f"/organizations/{elsewhere['id']}", json={"name": name.upper()})
    assert response.status_code == 200 and response.json()["name"] == name.upper()


async def test_a_member_that_left_cannot_be_patched(world: Deployment) -> None:
    member = await join(world)
    assert (await world["network"].post(f"/organizations/{member['id']}/leave")).status_code == 200
    async with nothing_written(world, "network", "/stats"):
        response = await world["network"].patch(f"/organizations/{member['id']}", json={"country": "SG"})
        assert_problem(response, 409, "already_left")


BAD_PATCHES: list[tuple[str, dict[str, Any], str]] = [
    ("nothing to change", {}, "body"),
    ("unknown country", {"country": "XX"}, "country"),
    ("unknown kind", {"kind": "club"}, "kind"),
    ("null country", {"country": None}, "body"),
    ("null name", {"name": None}, "body"),
    ("blank name", {"name": "  "}, "name"),
    ("website not a URL", {"website": "not a url"}, "website"),
    ("bad contact e-mail", {"contact_email": "nobody"}, "contact_email"),
    ("status is not patched", {"status": "active"}, "status"),
    ("unknown field", {"members": 3}, "members"),
]


@pytest.mark.parametrize(("change", "field"), [pytest.param(c, f, id=i) for i, c, f in BAD_PATCHES])
async def test_patch_rejects_bad_input(world: Deployment, change: dict[str, Any], field: str) -> None:
    member = await join(world)
    async with nothing_written(world, "network", "/stats"):
        response = await world["network"].patch(f"/organizations/{member['id']}", json=change)
        assert_problem(response, 422, "validation_failed", field=field)


# -- roles and Idempotency-Key ----------------------------------------------------------------------------


async def test_lifecycle_and_patch_need_the_network_role(world: Deployment) -> None:
    client = world["network"]
    member = await join(world)
    requests = [("POST", f"/organizations/{member['id']}/suspend", None),
                ("POST", f"/organizations/{member['id']}/reinstate", None),
                ("PATCH", f"/organizations/{member['id']}", {"city": "Melaka"})]
    async with nothing_written(world, "network", "/stats"):
        for method, path, body in requests:
            assert_problem(await client.request(method, path, json=body, headers={"Authorization": ""}),
                           401, "unauthenticated")
            for token in ("registrar-token", "projects-token", "checkin-token"):
                response = await client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
                assert_problem(response, 403, "forbidden")
    staff = {"Authorization": "Bearer network-token"}
    for method, path, body in requests:
        assert (await client.request(method, path, json=body, headers=staff)).status_code == 200


async def test_a_suspension_retried_with_its_key_gets_the_first_answer(world: Deployment) -> None:
    member = await join(world)
    path = f"/organizations/{member['id']}/suspend"
    first = await world["network"].post(path, headers={"Idempotency-Key": "suspend-1"})
    events = await world.event_count("network")
    retry = await world["network"].post(path, headers={"Idempotency-Key": "suspend-1"})
    assert first.status_code == retry.status_code == 200 and retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert await world.event_count("network") == events
    assert_problem(await world["network"].post(path), 409, "already_suspended")


# -- what each member signed ------------------------------------------------------------------------------


async def test_a_member_shows_the_projects_it_signed_from_the_projects_topic(world: Deployment,
                                                                            edition: str) -> None:
    member = await join(world, country="SG")
    await world.projects_know_organization(member["id"])
    party = {"name": "Singapore Chinese Chamber", "country": "SG", "organization_id": member["id"]}
    other_party = {"name": "Chongqing Port", "country": "CN"}
    projects = world["projects"]

    async def sign(**changes: Any) -> dict[str, Any]:
        response = await projects.post("/projects", json=project_body(edition, parties=[party, other_party],
                                                                      **changes))
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    kept = await sign(amount="9999999999.99", sector="finance", title="Lion City fintech bridge")
    amended = await sign(amount="0.01", sector="energy", title="Small start")
    withdrawn = await sign(amount="500.00", sector="agriculture", title="Durian cold chain")
    dropped = await sign(amount="7.00", sector="other", title="Dropped party")
    assert (await projects.patch(f"/projects/{amended['id']}", json={"amount": "1000000.02",
                                                                    "title": "Bigger start"})).status_code == 200
    assert (await projects.post(f"/projects/{withdrawn['id']}/withdraw")).status_code == 200
    assert (await projects.patch(f"/projects/{dropped['id']}", json={"parties": [other_party]})).status_code == 200

    expected = sorted([
        {"project_id": kept["id"], "edition_id": edition, "title": "Lion City fintech bridge", "sector": "finance",
         "amount_cny": "9999999999.99", "status": "signed"},
        {"project_id": amended["id"], "edition_id": edition, "title": "Bigger start", "sector": "energy",
         "amount_cny": "1000000.02", "status": "signed"},
        {"project_id": withdrawn["id"], "edition_id": edition, "title": "Durian cold chain", "sector": "agriculture",
         "amount_cny": "500.00", "status": "withdrawn"},
    ], key=lambda p: p["project_id"])

    async def caught_up() -> bool:
        body = (await world["network"].get(f"/organizations/{member['id']}", headers={"Authorization": ""})).json()
        assert body["projects"] == expected
        assert body["signed_amount_cny"] == "10001000000.01"
        return True
    await eventually(caught_up, timeout=20)
    # Suspension does not erase what a member signed.
    assert (await world["network"].post(f"/organizations/{member['id']}/suspend")).status_code == 200
    body = (await world["network"].get(f"/organizations/{member['id']}")).json()
    assert body["signed_amount_cny"] == "10001000000.01" and body["status"] == "suspended"


async def test_the_projects_replica_follows_suspension_and_reinstatement(world: Deployment, edition: str) -> None:
    member = await join(world, country="LK")
    parties = [{"name": "Colombo Chamber", "country": "LK", "organization_id": member["id"]}]
    for action, status, expected in (("suspend", "suspended", 422), ("reinstate", "active", 201),
                                     ("leave", "left", 422)):
        assert (await world["network"].post(f"/organizations/{member['id']}/{action}")).status_code == 200
        await world.projects_know_organization(member["id"], status)
        response = await world["projects"].post("/projects", json=project_body(edition, parties=parties))
        assert response.status_code == expected, response.text
        if expected == 422:
            assert_problem(response, 422, "organization_not_active", field="parties")


async def test_a_member_unknown_until_its_event_arrives(postgres_env: dict[str, str], tmp_path: Path) -> None:
    """While the network cannot publish, projects answers 422 unknown_organization (retryable), then 201."""
    async with databases(postgres_env) as urls:
        url = asyncpg_dsn(urls["network"])
        holder = await asyncpg.connect(url)
        try:
            key = zlib.crc32(b"outbox-relay:network")  # the network relay's leadership lock (shared/outbox.py)
            assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", key)
            async with deploy(postgres_env, tmp_path / "data", ["registration", "projects", "network"], urls=urls,
                              poll_interval_seconds=0.1) as d:
                opened = await d["registration"].post("/editions", json=edition_body())
                edition_id = opened.json()["id"]
                await d.projects_know_edition(edition_id)
                member = await join(d, country="NP")
                parties = [{"name": "Kathmandu Association", "country": "NP", "organization_id": member["id"]}]
                async with nothing_written(d, "projects", "/stats"):
                    response = await d["projects"].post("/projects", json=project_body(edition_id, parties=parties))
                    body = assert_problem(response, 422, "unknown_organization", field="parties")
                    assert "retry" in body["detail"]
                assert await holder.fetchval("SELECT pg_advisory_unlock($1)", key)

                async def signed() -> bool:
                    response = await d["projects"].post("/projects", json=project_body(edition_id, parties=parties))
                    if response.status_code == 422:
                        assert_problem(response, 422, "unknown_organization")
                        return False
                    assert response.status_code == 201, response.text
                    return True
                await eventually(signed, timeout=20)
        finally:
            await holder.close()


async def test_no_network_request_makes_a_server_error(world: Deployment) -> None:
    member = await join(world)
    await assert_no_server_error(world["network"], [
        ("PATCH", "/organizations/%00", {"city": "x"}),
        ("PATCH", f"/organizations/{member['id']}", {"city": "\u0000"}),
        ("PATCH", f"/organizations/{member['id']}", b"{"),
        ("PATCH", f"/organizations/{member['id']}", b"[]"),
        ("PATCH", f"/organizations/{member['id']}", {"name": "😀" * 200}),
        ("POST", "/organizations/%00/suspend", None),
        ("POST", "/organizations/%00/reinstate", None),
        ("GET", "/organizations/" + "9" * 3000, None),
    ])
