"""Registration end to end on the real PostgreSQL (embedded bus): editions and the rotation, a
delegate's whole life, badge check-in, forums and field visits, the CSV export, bad input on every
endpoint, and the dashboard agreeing with ``/stats`` throughout."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from devkit.waiting import eventually
from tests.support.bodies import edition_body
from tests.support.deployment import Deployment, deploy, nothing_written, open_edition, register
from tests.support.http_checks import assert_problem, walk_pages

pytestmark = pytest.mark.postgres

REGISTRAR = {"Authorization": "Bearer registrar-token"}
CHECKIN = {"Authorization": "Bearer checkin-token"}
ANONYMOUS = {"Authorization": ""}
CO_HOSTS = ["All-China Federation of Returned Overseas Chinese", "Chongqing Municipal People's Government",
            "Sichuan Provincial People's Government"]
# Every table a registration write could touch; a rejected request must leave each row as it was.
SNAPSHOT_TABLES = ("editions", "delegates", "sessions", "enrollments")


@pytest.fixture(scope="module")
async def reg(postgres_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    async with deploy(postgres_env, tmp_path_factory.mktemp("lifecycle") / "data", ["registration"]) as d:
        yield d


@pytest.fixture(scope="module")
async def edition(reg: Deployment) -> dict[str, Any]:
    return await open_edition(reg, year=2026)


# -- helpers ------------------------------------------------------------------------------------------------




def session_body(edition: dict[str, Any], /, **changes: Any) -> dict[str, Any]:
    return {"edition_id": edition["id"], "kind": "forum", "title": "Green energy and the digital economy",
            "capacity": 2, "starts_at": f"{edition['year']}-10-20T09:00:00+08:00", **changes}


async def create_session(d: Deployment, edition: dict[str, Any], **changes: Any) -> dict[str, Any]:
    response = await d["registration"].post("/sessions", json=session_body(edition, **changes))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def enroll(d: Deployment, session_id: str, delegate_id: str, status: int = 201) -> dict[str, Any]:
    response = await d["registration"].post(f"/sessions/{session_id}/enrollments", json={"delegate_id": delegate_id})
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def scan(d: Deployment, badge_code: str, **headers: str) -> Any:
    return await d["registration"].post("/check-ins", json={"badge_code": badge_code}, headers={**CHECKIN, **headers})


async def snapshot(d: Deployment) -> dict[str, list[str]]:
    tables = {}
    for table in SNAPSHOT_TABLES:
        rows = await d.scalar("registration", f"SELECT coalesce(json_agg(t ORDER BY t.id)::text, '[]') FROM {table} t")
        tables[table] = rows
    return tables


@contextlib.asynccontextmanager
async def nothing_changed(d: Deployment, *stats_paths: str) -> AsyncIterator[None]:
    """No row of any registration table changes (values, not only counts), no event, no figure moves."""
    before = await snapshot(d)
    async with nothing_written(d, "registration", "/stats", *stats_paths):
        yield
    assert await snapshot(d) == before


async def events_about(d: Deployment, subject: str) -> list[dict[str, Any]]:
    await d.event_count("registration")  # waits for the relay to drain the outbox
    return [e for e in d.bus_events("registration") if e["subject"] == subject]


def short_type(event: dict[str, Any]) -> str:
    return str(event["type"]).split(".")[2]


# -- editions -----------------------------------------------------------------------------------------------


async def test_rotation_over_five_editions_with_co_hosts(postgres_env: dict[str, str], tmp_path: Any) -> None:
    async with deploy(postgres_env, tmp_path / "data", ["registration"]) as d:
        client = d["registration"]
        assert (await client.get("/editions/next")).json() == {"number": 1, "host": "Chongqing", "co_hosts": []}
        opened = []
        for i in range(5):
            nxt = (await client.get("/editions/next", headers=ANONYMOUS)).json()
            changes: dict[str, Any] = {"co_hosts": CO_HOSTS} if i == 0 else {}
            created = await open_edition(d, year=2025 + i, **changes)
            assert (created["number"], created["host"]) == (nxt["number"], nxt["host"])
            # Without co_hosts an edition keeps the previous one's, exactly as /editions/next announced.
            assert created["co_hosts"] == (CO_HOSTS if i == 0 else nxt["co_hosts"]) == CO_HOSTS
            opened.append(created)
        assert [e["host"] for e in opened] == ["Chongqing", "Sichuan", "Chongqing", "Sichuan", "Chongqing"]
        assert [e["number"] for e in opened] == [1, 2, 3, 4, 5]
        listed = (await client.get("/editions", headers=ANONYMOUS)).json()["items"]
        assert listed == opened
        assert (await client.get(f"/editions/{opened[2]['id']}")).json() == opened[2]
        assert (await client.get("/editions/next")).json() == {"number": 6, "host": "Sichuan", "co_hosts": CO_HOSTS}

        # An explicit empty list means none; duplicates (in another case or spacing) are dropped.
        sixth = await open_edition(d, year=2030, co_hosts=[])
        assert (sixth["host"], sixth["co_hosts"]) == ("Sichuan", [])
        seventh = await open_edition(d, year=2031, co_hosts=["ACFROC", " acfroc ", "Chengdu  Government"])
        assert seventh["co_hosts"] == ["ACFROC", "Chengdu Government"]

        events = [e for e in d.bus_events("registration") if short_type(e) == "edition_opened"] \
            if await d.event_count("registration") == 7 else []
        assert [(e["data"]["number"], e["data"]["host"], e["data"]["co_hosts"]) for e in events] == [
            (e["number"], e["host"], e["co_hosts"]) for e in [*opened, sixth, seventh]]


@pytest.mark.parametrize(("change", "field"), [
    ({"co_hosts": "ACFROC"}, "co_hosts"),
    ({"co_hosts": [""]}, "co_hosts.0"),
    ({"co_hosts": ["x" * 201]}, "co_hosts.0"),
    ({"co_hosts": [f"body {i}" for i in range(21)]}, "co_hosts"),
    ({"co_hosts": [None]}, "co_hosts.0"),
])
async def test_open_edition_rejects_bad_co_hosts(reg: Deployment, change: dict[str, Any], field: str) -> None:
    async with nothing_changed(reg, "/editions"):
        response = await reg["registration"].post("/editions", json=edition_body(2040, **change))
        assert_problem(response, 422, "validation_failed", field=field)


# -- a delegate's whole life --------------------------------------------------------------------------------


async def test_a_delegates_full_lifecycle(reg: Deployment, edition: dict[str, Any]) -> None:
    client = reg["registration"]
    stats_path = f"/stats?edition_id={edition['id']}"
    before = (await client.get(stats_path)).json()["delegates"]

    # Registered.
    delegate = await register(reg, edition["id"], country="MY", category="representative",
                              email="Lim.Mei@Example.my")
    assert delegate["status"] == "registered" and delegate["badge_code"]
    assert delegate["checked_in_at"] is None and delegate["cancelled_at"] is None
    path = f"/delegates/{delegate['id']}"
    assert (await client.get(path)).json() == delegate

    # Country and category corrected: one delegate_updated carrying old and new.
    patched = await client.patch(path, json={"country": "sg", "category": "guest", "city": "Singapore"},
                                 headers=REGISTRAR)
    assert patched.status_code == 200, patched.text
    assert {k: patched.json()[k] for k in ("country", "category", "city", "status", "email")} == {
        "country": "SG", "category": "guest", "city": "Singapore", "status": "registered",
        "email": delegate["email"]}
    assert (await client.get(path)).json() == patched.json()

    # Enrolled in a forum.
    forum = await create_session(reg, edition, capacity=1, title="Overseas Chinese and the digital economy")
    assert (await enroll(reg, forum["id"], delegate["id"]))["state"] == "enrolled"

    # Checked in once; a second scan says when.
    first = await scan(reg, delegate["badge_code"])
    assert first.status_code == 200, first.text
    checked = first.json()
    assert {k: checked[k] for k in ("delegate_id", "status", "country", "category", "full_name", "edition_id")} == {
        "delegate_id": delegate["id"], "status": "checked_in", "country": "SG", "category": "guest",
        "full_name": delegate["full_name"], "edition_id": edition["id"]}
    assert "email" not in checked and "phone" not in checked and "badge_code" not in checked
    async with nothing_changed(reg, stats_path):
        again = assert_problem(await scan(reg, delegate["badge_code"]), 409, "already_checked_in")
    assert again["checked_in_at"] == checked["checked_in_at"]
    assert checked["checked_in_at"] in again["detail"]
    assert (await client.get(path)).json()["checked_in_at"] == checked["checked_in_at"]
    now = (await client.get(stats_path)).json()["delegates"]
    assert (now["registered"], now["checked_in"]) == (before["registered"] + 1, before["checked_in"] + 1)

    # Cancelled: the forum place is freed, the badge no longer works, nothing can be changed.
    cancelled = await client.post(f"{path}/cancel", headers=REGISTRAR)
    assert cancelled.json() == {"id": delegate["id"], "status": "cancelled"}
    assert (await client.get(f"/sessions/{forum['id']}")).json()["enrolled"] == 0
    async with nothing_changed(reg, stats_path):
        assert_problem(await scan(reg, delegate["badge_code"]), 409, "delegate_cancelled")
        assert_problem(await client.patch(path, json={"country": "MY"}), 409, "delegate_cancelled")
        assert_problem(await client.post(f"{path}/cancel"), 409, "already_cancelled")
        assert_problem(await client.post(f"/sessions/{forum['id']}/enrollments", json={"delegate_id": delegate["id"]}),
                       409, "delegate_cancelled")
    final = (await client.get(path)).json()
    assert final["status"] == "cancelled" and final["cancelled_at"] and final["checked_in_at"]
    assert (await client.get(stats_path)).json()["delegates"]["registered"] == before["registered"]

    # The story, as integrators read it: each event carries the state after and the one before,
    # and nothing personal.
    events = await events_about(reg, delegate["id"])
    assert [short_type(e) for e in events] == ["delegate_registered", "delegate_updated", "delegate_checked_in",
                                               "delegate_cancelled"]
    states = [(e["data"]["country"], e["data"]["category"], e["data"]["status"]) for e in events]
    assert states == [("MY", "representative", "registered"), ("SG", "guest", "registered"),
                      ("SG", "guest", "checked_in"), ("SG", "guest", "cancelled")]
    previous = [e["data"].get("previous") for e in events]
    assert previous[1] == {"country": "MY", "category": "representative", "status": "registered"}
    assert previous[2] == {"country": "SG", "category": "guest", "status": "registered"}
    assert previous[3] == {"country": "SG", "category": "guest", "status": "checked_in"}
    text = json.dumps(events).lower()
    for personal in (delegate["email"], delegate["phone"], delegate["full_name"], delegate["badge_code"]):
        assert personal.lower() not in text
    forum_events = await events_about(reg, forum["id"])
    assert [(e["data"]["delegate_id"], e["data"]["state"], e["data"]["reason"]) for e in forum_events] == [
        (delegate["id"], "enrolled", "requested"), (delegate["id"], "withdrawn", "delegate_cancelled")]


async def test_patch_announces_only_countable_changes(reg: Deployment, edition: dict[str, Any]) -> None:
    client = reg["registration"]
    delegate = await register(reg, edition["id"], country="TH", category="media")
    path = f"/delegates/{delegate['id']}"

    # Not counted anywhere: stored, but no event.
    events_before = await reg.event_count("registration")
    response = await client.patch(path, json={"city": "Bangkok", "organization": None, "phone": "+66 2 123 4567",
                                              "full_name": "Somchai Tan"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["city"], body["organization"], body["phone"], body["full_name"]) == (
        "Bangkok", None, "+66 2 123 4567", "Somchai Tan")
    # The same values again: a no-op.
    assert (await client.patch(path, json={"country": "TH", "category": "media"})).status_code == 200
    assert await reg.event_count("registration") == events_before

    # A category change alone is announced.
    assert (await client.patch(path, json={"category": "official"})).json()["category"] == "official"
    [updated] = [e for e in await events_about(reg, delegate["id"]) if short_type(e) == "delegate_updated"]
    assert updated["data"]["category"] == "official" and updated["data"]["previous"]["category"] == "media"

    # A new e-mail is allowed unless another delegate of the edition has it (in any case).
    other = await register(reg, edition["id"], email="taken.address@example.org")
    async with nothing_changed(reg):
        assert_problem(await client.patch(path, json={"email": "TAKEN.address@example.org"}), 409, "duplicate_email")
    assert (await client.patch(path, json={"email": "somchai@example.th"})).json()["email"] == "somchai@example.th"
    assert other["id"] != delegate["id"]


BAD_PATCHES: list[tuple[str, dict[str, Any], str]] = [
    ("empty body", {}, "body"),
    ("unknown country", {"country": "XX"}, "country"),
    ("null country", {"country": None}, "body"),
    ("null category", {"category": None}, "body"),
    ("null full_name", {"full_name": None}, "body"),
    ("null email", {"email": None}, "body"),
    ("bad e-mail", {"email": "not-an-email"}, "email"),
    ("unknown category", {"category": "vip"}, "category"),
    ("bad phone", {"phone": "call me"}, "phone"),
    ("status is not patchable", {"status": "checked_in"}, "status"),
    ("badge is not patchable", {"badge_code": "mine"}, "badge_code"),
    ("edition is not patchable", {"edition_id": str(uuid.uuid4())}, "edition_id"),
    ("blank full_name", {"full_name": "  "}, "full_name"),
]


@pytest.mark.parametrize(("change", "field"), [pytest.param(c, f, id=i) for i, c, f in BAD_PATCHES])
async def test_patch_rejects_bad_input(reg: Deployment, edition: dict[str, Any], change: dict[str, Any],
                                       field: str) -> None:
    delegate = await register(reg, edition["id"])
    async with nothing_changed(reg, f"/stats?edition_id={edition['id']}"):
        response = await reg["registration"].patch(f"/delegates/{delegate['id']}", json=change)
        assert_problem(response, 422, "validation_failed", field=field)


async def test_patch_of_an_unknown_delegate_and_without_the_role(reg: Deployment, edition: dict[str, Any]) -> None:
    client = reg["registration"]
    delegate = await register(reg, edition["id"])
    async with nothing_changed(reg):
        assert_problem(await client.patch(f"/delegates/{uuid.uuid4()}", json={"country": "CN"}), 404,
                       "delegate_not_found")
        path = f"/delegates/{delegate['id']}"
        assert_problem(await client.patch(path, json={"country": "CN"}, headers=ANONYMOUS), 401, "unauthenticated")
        assert_problem(await client.patch(path, json={"country": "CN"}, headers=CHECKIN), 403, "forbidden")
        assert_problem(await client.patch(path, content=b"{", headers={"content-type": "application/json"}), 400,
                       "malformed_json")


async def test_filter_by_category(reg: Deployment) -> None:
    own = await open_edition(reg, year=2041)
    media = [await register(reg, own["id"], category="media") for _ in range(3)]
    await register(reg, own["id"], category="official")
    found = await walk_pages(reg["registration"], "/delegates", limit=2, edition_id=own["id"], category="media")
    assert {d["id"] for d in found} == {d["id"] for d in media}
    assert_problem(await reg["registration"].get("/delegates", params={"category": "vip"}), 422, "validation_failed",
                   field="query.category")


# -- CSV export ---------------------------------------------------------------------------------------------


async def test_csv_export_for_the_secretariat(reg: Deployment) -> None:
    client = reg["registration"]
    own = await open_edition(reg, year=2042)
    plain = await register(reg, own["id"], full_name="Chen Jia Hui", name_zh="陈佳慧", country="ID")
    formula = await register(reg, own["id"], full_name="=HYPERLINK(\"http://evil\")", organization="+SUM(A1)",
                             country="CN", phone=None)
    await client.post(f"/delegates/{formula['id']}/cancel")
    await register(reg, (await open_edition(reg, year=2043))["id"])  # another edition's delegate

    response = await client.get("/delegates/export.csv", params={"edition_id": own["id"]}, headers=REGISTRAR)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert f'filename="delegates-edition-{own["number"]}.csv"' in response.headers["content-disposition"]
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["id"] for r in rows] == [plain["id"], formula["id"]]
    first = rows[0]
    assert (first["full_name"], first["name_zh"], first["country"], first["email"], first["phone"],
            first["badge_code"], first["status"]) == ("Chen Jia Hui", "陈佳慧", "ID", plain["email"], plain["phone"],
                                                      plain["badge_code"], "registered")
    assert rows[1]["full_name"] == "'=HYPERLINK(\"http://evil\")" and rows[1]["organization"] == "'+SUM(A1)"
    assert rows[1]["status"] == "cancelled" and rows[1]["cancelled_at"] and rows[1]["phone"] == ""

    empty = await open_edition(reg, year=2044)
    only_header = await client.get("/delegates/export.csv", params={"edition_id": empty["id"]})
    assert only_header.content.decode("utf-8-sig").splitlines() == [",".join(
        ["id", "edition_id", "full_name", "name_zh", "country", "city", "organization", "category", "status",
         "email", "phone", "badge_code", "registered_at", "checked_in_at", "cancelled_at"])]


async def test_csv_export_needs_the_registrar_and_a_known_edition(reg: Deployment, edition: dict[str, Any]) -> None:
    client = reg["registration"]
    params = {"edition_id": edition["id"]}
    assert_problem(await client.get("/delegates/export.csv", params=params, headers=ANONYMOUS), 401,
                   "unauthenticated")
    assert_problem(await client.get("/delegates/export.csv", params=params, headers=CHECKIN), 403, "forbidden")
    assert_problem(await client.get("/delegates/export.csv"), 422, "validation_failed", field="query.edition_id")
    assert_problem(await client.get("/delegates/export.csv", params={"edition_id": str(uuid.uuid4())}), 404,
                   "edition_not_found")
    assert_problem(await client.get("/delegates/export.csv", params={"edition_id": "x" * 37}), 422,
                   "validation_failed", field="query.edition_id")


# -- check-in -----------------------------------------------------------------------------------------------


async def test_check_in_bad_input(reg: Deployment, edition: dict[str, Any]) -> None:
    client = reg["registration"]
    delegate = await register(reg, edition["id"])
    other_edition = await open_edition(reg, year=2045)
    stats_path = f"/stats?edition_id={edition['id']}"
    async with nothing_changed(reg, stats_path):
        for body, status, code, field in [
            ({}, 422, "validation_failed", "badge_code"),
            ({"badge_code": ""}, 422, "validation_failed", "badge_code"),
            ({"badge_code": "   "}, 422, "validation_failed", "badge_code"),
            ({"badge_code": "x" * 65}, 422, "validation_failed", "badge_code"),
            ({"badge_code": 12345}, 422, "validation_failed", "badge_code"),
            ({"badge_code": delegate["badge_code"], "delegate_id": delegate["id"]}, 422, "validation_failed",
             "delegate_id"),
            ({"badge_code": "no-such-badge"}, 404, "badge_not_found", None),
            ({"badge_code": delegate["badge_code"][:-1]}, 404, "badge_not_found", None),
            ({"badge_code": delegate["badge_code"], "edition_id": other_edition["id"]}, 409, "wrong_edition", None),
        ]:
            response = await client.post("/check-ins", json=body, headers=CHECKIN)
            assert_problem(response, status, code, field=field)
        # Scanning is the door's job: the registrar role alone may not, anonymous callers neither.
        assert_problem(await scan(reg, delegate["badge_code"], Authorization="Bearer registrar-token"), 403,
                       "forbidden")
        assert_problem(await scan(reg, delegate["badge_code"], Authorization=""), 401, "unauthenticated")
    # The badge still works, for its own edition, and an admin may scan too.
    response = await client.post("/check-ins", json={"badge_code": f"  {delegate['badge_code']} ",
                                                     "edition_id": edition["id"]})
    assert response.status_code == 200, response.text


async def test_a_check_in_retried_with_the_same_key_returns_the_first_answer(reg: Deployment,
                                                                            edition: dict[str, Any]) -> None:
    delegate = await register(reg, edition["id"])
    first = await scan(reg, delegate["badge_code"], **{"Idempotency-Key": "gate-3-scan-1"})
    assert first.status_code == 200
    events = await reg.event_count("registration")
    retry = await scan(reg, delegate["badge_code"], **{"Idempotency-Key": "gate-3-scan-1"})
    assert retry.status_code == 200 and retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert await reg.event_count("registration") == events
    # Another key is another scan: the repeat is refused and names the first.
    other = assert_problem(await scan(reg, delegate["badge_code"], **{"Idempotency-Key": "gate-3-scan-2"}), 409,
                           "already_checked_in")
    assert other["checked_in_at"] == first.json()["checked_in_at"]
    # The same key with another badge is a misuse.
    stranger = await register(reg, edition["id"])
    assert_problem(await scan(reg, stranger["badge_code"], **{"Idempotency-Key": "gate-3-scan-1"}), 409,
                   "idempotency_key_reused")
    [checked_in] = [e for e in await events_about(reg, delegate["id"]) if short_type(e) == "delegate_checked_in"]
    assert checked_in["data"]["status"] == "checked_in"


# -- sessions -----------------------------------------------------------------------------------------------


async def test_sessions_enrol_wait_list_promote(reg: Deployment, edition: dict[str, Any]) -> None:
    client = reg["registration"]
    visit = await create_session(reg, edition, kind="field_visit", title="Liangjiang New Area", capacity=2,
                                 starts_at=f"{edition['year']}-10-21T14:00:00+08:00")
    assert {k: visit[k] for k in ("kind", "capacity", "enrolled", "waitlisted", "available")} == {
        "kind": "field_visit", "capacity": 2, "enrolled": 0, "waitlisted": 0, "available": 2}
    assert (await client.get(f"/sessions/{visit['id']}", headers=ANONYMOUS)).json() == visit
    people = [await register(reg, edition["id"]) for _ in range(5)]
    a, b, c, d, e = (p["id"] for p in people)

    answers = [await enroll(reg, visit["id"], p) for p in (a, b, c, d, e)]
    assert [(x["state"], x["position"]) for x in answers] == [
        ("enrolled", None), ("enrolled", None), ("waitlisted", 1), ("waitlisted", 2), ("waitlisted", 3)]
    assert (answers[-1]["enrolled"], answers[-1]["waitlisted"], answers[-1]["capacity"]) == (2, 3, 2)

    # Asking again changes nothing and says where the delegate stands.
    async with nothing_changed(reg):
        assert (await enroll(reg, visit["id"], a, status=200))["state"] == "enrolled"
        again = await enroll(reg, visit["id"], d, status=200)
        assert (again["state"], again["position"]) == ("waitlisted", 2)

    # A waiting delegate leaving promotes nobody and moves the queue up.
    left = (await client.delete(f"/sessions/{visit['id']}/enrollments/{c}")).json()
    assert (left["state"], left["previous_state"], left["promoted_delegate_id"]) == ("withdrawn", "waitlisted", None)
    assert (await enroll(reg, visit["id"], d, status=200))["position"] == 1

    # An enrolled delegate leaving hands the place to the first in the queue (FIFO): d, then e.
    freed = (await client.delete(f"/sessions/{visit['id']}/enrollments/{a}")).json()
    assert (freed["previous_state"], freed["promoted_delegate_id"], freed["enrolled"], freed["waitlisted"]) == (
        "enrolled", d, 2, 1)
    # Cancelling an enrolled delegate frees their place too.
    assert (await client.post(f"/delegates/{b}/cancel")).status_code == 200
    listed = (await client.get(f"/sessions/{visit['id']}/enrollments")).json()
    # d took a's seat 1, e took b's seat 2: listed by seat.
    assert [(x["delegate_id"], x["state"]) for x in listed] == [(d, "enrolled"), (e, "enrolled")]
    assert (await client.get(f"/sessions/{visit['id']}")).json()["enrolled"] == 2

    # A withdrawn delegate re-enrolling joins the back of the queue.
    assert (await enroll(reg, visit["id"], a))["state"] == "waitlisted"
    async with nothing_changed(reg):
        assert_problem(await client.delete(f"/sessions/{visit['id']}/enrollments/{c}"), 404, "enrollment_not_found")

    events = await events_about(reg, visit["id"])
    assert [(x["data"]["delegate_id"], x["data"]["state"], x["data"]["reason"], x["data"]["enrolled"],
             x["data"]["waitlisted"]) for x in events] == [
        (a, "enrolled", "requested", 1, 0), (b, "enrolled", "requested", 2, 0), (c, "waitlisted", "requested", 2, 1),
        (d, "waitlisted", "requested", 2, 2), (e, "waitlisted", "requested", 2, 3),
        (c, "withdrawn", "withdrawn", 2, 2),
        (a, "withdrawn", "withdrawn", 1, 2), (d, "enrolled", "promoted", 2, 1),
        (b, "withdrawn", "delegate_cancelled", 1, 1), (e, "enrolled", "promoted", 2, 0),
        (a, "waitlisted", "requested", 2, 1)]
    assert all(x["data"]["capacity"] == 2 and x["data"]["kind"] == "field_visit" for x in events)


async def test_list_sessions_with_filters_and_pages(reg: Deployment) -> None:
    client = reg["registration"]
    own = await open_edition(reg, year=2046)
    forums = [await create_session(reg, own, title=f"Forum {i}", capacity=10 + i) for i in range(4)]
    visits = [await create_session(reg, own, kind="field_visit", title=f"Visit {i}") for i in range(2)]
    everything = await walk_pages(client, "/sessions", limit=4, edition_id=own["id"])
    assert {s["id"] for s in everything} == {s["id"] for s in forums + visits}
    only_visits = await walk_pages(client, "/sessions", limit=50, edition_id=own["id"], kind="field_visit")
    assert {s["id"] for s in only_visits} == {s["id"] for s in visits}
    assert_problem(await client.get("/sessions", params={"kind": "workshop"}), 422, "validation_failed",
                   field="query.kind")
    assert_problem(await client.get("/sessions", params={"cursor": "!!"}), 400, "invalid_cursor")
    assert_problem(await client.get(f"/sessions/{uuid.uuid4()}"), 404, "session_not_found")
    assert_problem(await client.get(f"/sessions/{uuid.uuid4()}/enrollments"), 404, "session_not_found")
    assert_problem(await client.get(f"/sessions/{forums[0]['id']}/enrollments", headers=ANONYMOUS), 401,
                   "unauthenticated")


BAD_SESSIONS: list[tuple[str, dict[str, Any], str]] = [
    ("negative capacity", {"capacity": -1}, "capacity"),
    ("zero capacity", {"capacity": 0}, "capacity"),
    ("capacity as a string", {"capacity": "50"}, "capacity"),
    ("fractional capacity", {"capacity": 50.5}, "capacity"),
    ("boolean capacity", {"capacity": True}, "capacity"),
    ("huge capacity", {"capacity": 10**12}, "capacity"),
    ("unknown kind", {"kind": "workshop"}, "kind"),
    ("blank title", {"title": "  "}, "title"),
    ("title 201 chars", {"title": "x" * 201}, "title"),
    ("starts_at without a zone", {"starts_at": "2026-10-20T09:00:00"}, "starts_at"),
    ("starts_at not a time", {"starts_at": "soon"}, "starts_at"),
    ("unknown extra field", {"room": "A1"}, "room"),
    ("edition_id 37 chars", {"edition_id": "x" * 37}, "edition_id"),
]


@pytest.mark.parametrize(("change", "field"), [pytest.param(c, f, id=i) for i, c, f in BAD_SESSIONS])
async def test_create_session_rejects_bad_input(reg: Deployment, edition: dict[str, Any], change: dict[str, Any],
                                                field: str) -> None:
    async with nothing_changed(reg):
        response = await reg["registration"].post("/sessions", json=session_body(edition, **change))
        assert_problem(response, 422, "validation_failed", field=field)


@pytest.mark.parametrize("missing", ["edition_id", "kind", "title", "capacity", "starts_at"])
async def test_create_session_requires_fields(reg: Deployment, edition: dict[str, Any], missing: str) -> None:
    body = session_body(edition)
    del body[missing]
    async with nothing_changed(reg):
        assert_problem(await reg["registration"].post("/sessions", json=body), 422, "validation_failed", field=missing)


async def test_create_session_rules(reg: Deployment, edition: dict[str, Any]) -> None:
    client = reg["registration"]
    async with nothing_changed(reg):
        assert_problem(await client.post("/sessions", json=session_body({**edition, "id": str(uuid.uuid4())})), 422,
                       "unknown_edition", field="edition_id")
        assert_problem(await client.post("/sessions", json=session_body(
            edition, starts_at=f"{edition['year']}-12-01T09:00:00+08:00")), 422, "invalid_starts_at",
            field="starts_at")
        assert_problem(await client.post("/sessions", json=session_body(edition), headers=ANONYMOUS), 401,
                       "unauthenticated")
        assert_problem(await client.post("/sessions", json=session_body(edition), headers=CHECKIN), 403, "forbidden")
    assert (await client.post("/sessions", json=session_body(edition), headers=REGISTRAR)).status_code == 201


async def test_enrolment_bad_input(reg: Deployment, edition: dict[str, Any]) -> None:
    client = reg["registration"]
    forum = await create_session(reg, edition, capacity=1)
    ok = await register(reg, edition["id"])
    gone = await register(reg, edition["id"])
    await client.post(f"/delegates/{gone['id']}/cancel")
    elsewhere = await register(reg, (await open_edition(reg, year=2047))["id"])
    path = f"/sessions/{forum['id']}/enrollments"
    async with nothing_changed(reg):
        for url, body, headers, status, code, field in [
            (path, {"delegate_id": str(uuid.uuid4())}, {}, 422, "unknown_delegate", "delegate_id"),
            (path, {}, {}, 422, "validation_failed", "delegate_id"),
            (path, {"delegate_id": ""}, {}, 422, "validation_failed", "delegate_id"),
            (path, {"delegate_id": ok["id"], "seat": 1}, {}, 422, "validation_failed", "seat"),
            (path, {"delegate_id": gone["id"]}, {}, 409, "delegate_cancelled", None),
            (path, {"delegate_id": elsewhere["id"]}, {}, 409, "wrong_edition", None),
            (f"/sessions/{uuid.uuid4()}/enrollments", {"delegate_id": ok["id"]}, {}, 404, "session_not_found", None),
            (path, {"delegate_id": ok["id"]}, ANONYMOUS, 401, "unauthenticated", None),
            (path, {"delegate_id": ok["id"]}, CHECKIN, 403, "forbidden", None),
        ]:
            assert_problem(await client.post(url, json=body, headers=headers), status, code, field=field)
        for url, headers, status, code in [
            (f"{path}/{ok['id']}", {}, 404, "enrollment_not_found"),
            (f"/sessions/{uuid.uuid4()}/enrollments/{ok['id']}", {}, 404, "session_not_found"),
            (f"{path}/{ok['id']}", CHECKIN, 403, "forbidden"),
            (f"{path}/{ok['id']}", ANONYMOUS, 401, "unauthenticated"),
        ]:
            assert_problem(await client.delete(url, headers=headers), status, code)
    assert (await enroll(reg, forum["id"], ok["id"]))["state"] == "enrolled"


async def test_enrolment_with_an_idempotency_key(reg: Deployment, edition: dict[str, Any]) -> None:
    forum = await create_session(reg, edition, capacity=1)
    first, second = [await register(reg, edition["id"]) for _ in range(2)]
    client = reg["registration"]
    path = f"/sessions/{forum['id']}/enrollments"
    one = await client.post(path, json={"delegate_id": first["id"]}, headers={"Idempotency-Key": "enrol-1"})
    replay = await client.post(path, json={"delegate_id": first["id"]}, headers={"Idempotency-Key": "enrol-1"})
    assert one.status_code == replay.status_code == 201 and one.json() == replay.json()
    assert_problem(await client.post(path, json={"delegate_id": second["id"]}, headers={"Idempotency-Key": "enrol-1"}),
                   409, "idempotency_key_reused")
    assert (await client.get(f"/sessions/{forum['id']}")).json()["enrolled"] == 1


async def test_no_request_makes_a_server_error(reg: Deployment, edition: dict[str, Any]) -> None:
    from tests.support.http_checks import assert_no_server_error

    await assert_no_server_error(reg["registration"], [
        ("PATCH", "/delegates/%00", {"country": "CN"}),
        ("PATCH", f"/delegates/{uuid.uuid4()}", {"full_name": "nul\u0000"}),
        ("POST", "/check-ins", {"badge_code": "\u0000"}),
        ("POST", "/check-ins", b"\xff"),
        ("GET", "/delegates/export.csv?edition_id=%00", None),
        ("POST", "/sessions", session_body(edition, title="nul\u0000")),
        ("POST", "/sessions", session_body(edition, starts_at="9999-12-31T23:59:59+14:00")),
        ("POST", "/sessions/%00/enrollments", {"delegate_id": "\u0000"}),
        ("DELETE", "/sessions/%00/enrollments/%00", None),
        ("GET", "/sessions/%00", None),
        ("GET", "/sessions?edition_id=%00", None),
        ("GET", "/sessions/" + "x" * 5000, None),
    ])


# -- the dashboard agrees with /stats -----------------------------------------------------------------------


async def test_dashboard_equals_stats_through_changes_check_ins_and_cancellations(
        postgres_env: dict[str, str], tmp_path: Any) -> None:
    async with deploy(postgres_env, tmp_path / "data", ["registration", "dashboard"]) as d:
        reg, dash = d["registration"], d["dashboard"]
        first, second = await open_edition(d, year=2025), await open_edition(d, year=2026)
        people = [await register(d, e["id"], country=c) for e in (first, second)
                  for c in ("CN", "MY", "MY", "TH", "ID", "SG", "SG", "DE")]

        async def agree() -> bool:
            for edition_id in (None, first["id"], second["id"]):
                params = {"edition_id": edition_id} if edition_id else {}
                stats = (await reg.get("/stats", params=params)).json()["delegates"]
                totals = (await dash.get("/totals", params=params)).json()["delegates"]
                assert totals == stats, (edition_id, totals, stats)
            expected: Counter[tuple[str, str]] = Counter()
            for delegate in await walk_pages(reg, "/delegates", limit=500):
                if delegate["status"] != "cancelled":
                    expected[(delegate["country"], "delegates")] += 1
                if delegate["status"] == "checked_in":
                    expected[(delegate["country"], "checked_in")] += 1
            rows = (await dash.get("/countries")).json()["items"]
            seen = Counter({(r["country"], k): r[k] for r in rows for k in ("delegates", "checked_in") if r[k]})
            assert seen == expected, (seen, expected)
            return True

        await eventually(agree, timeout=20)
        # Country changes: away from a country (TH disappears), into a new one (KE), within the same.
        await reg.patch(f"/delegates/{people[3]['id']}", json={"country": "KE"})
        await reg.patch(f"/delegates/{people[1]['id']}", json={"country": "SG", "category": "guest"})
        await reg.patch(f"/delegates/{people[9]['id']}", json={"country": "MY"})
        # Check-ins, then a country change of a checked-in delegate.
        for p in (people[0], people[5], people[8], people[12]):
            assert (await scan(d, p["badge_code"])).status_code == 200
        await reg.patch(f"/delegates/{people[5]['id']}", json={"country": "CN"})
        await eventually(agree, timeout=20)
        # Cancellations: a registered one, a checked-in one, the last of a country.
        for p in (people[2], people[0], people[15]):
            assert (await reg.post(f"/delegates/{p['id']}/cancel")).status_code == 200
        await eventually(agree, timeout=20)
        # Bad requests in between move nothing on either side.
        assert (await scan(d, people[0]["badge_code"])).status_code == 409
        assert (await reg.patch(f"/delegates/{people[0]['id']}", json={"country": "FR"})).status_code == 409
        await eventually(agree, timeout=20)
        final = (await reg.get("/stats")).json()["delegates"]
        assert final == {"registered": 13, "checked_in": 3, "countries": 7, "pending": 0}
