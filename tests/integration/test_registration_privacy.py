"""Private by default (issue 11): anonymous callers see a delegate only with that delegate's consent, and
never when they checked in or cancelled. On the real PostgreSQL and on SQLite (the embedded default)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import create_async_engine

from services.registration.app import SERVICE_DIR
from tests.support.bodies import delegate_body, edition_body
from tests.support.deployment import (
    STATE_TABLES,
    Deployment,
    databases,
    deploy,
    nothing_written,
    open_edition,
    register,
)
from tests.support.http_checks import assert_problem, walk_pages

pytestmark = pytest.mark.postgres

ANONYMOUS = {"Authorization": ""}
# Every kind of caller with a token: staff see every delegate, as before consent was asked.
STAFF = [{"Authorization": "Bearer checkin-token"}, {"Authorization": "Bearer projects-token"},
         {"Authorization": "Bearer registrar-token"}, {}]
NOT_PUBLIC = ("checked_in_at", "cancelled_at", "email", "phone", "badge_code")


def sqlite_urls(data_dir: Path) -> dict[str, str]:
    return {name: f"sqlite+inline:///{data_dir / name}.db" for name in STATE_TABLES}


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
async def reg(request: pytest.FixtureRequest, postgres_env: dict[str, str],
              tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    data_dir = tmp_path_factory.mktemp(f"privacy-{request.param}") / "data"
    urls = sqlite_urls(data_dir) if request.param == "sqlite" else None
    async with deploy(postgres_env, data_dir, ["registration"], urls=urls) as d:
        yield d


@pytest.fixture(scope="module")
async def edition(reg: Deployment) -> dict[str, Any]:
    return await open_edition(reg)



async def test_consent_is_false_unless_given_at_registration(reg: Deployment, edition: dict[str, Any]) -> None:
    client = reg["registration"]
    private = await register(reg, edition["id"])
    public = await register(reg, edition["id"], listed_publicly=True)
    assert private["listed_publicly"] is False and public["listed_publicly"] is True
    assert (await client.get(f"/delegates/{public['id']}")).json()["listed_publicly"] is True
    assert (await client.get(f"/delegates/{private['id']}")).json()["listed_publicly"] is False


async def test_anonymous_list_shows_only_consenting_delegates_without_times(reg: Deployment) -> None:
    client = reg["registration"]
    own = (await client.post("/editions", json=edition_body(2031))).json()
    consenting = [await register(reg, own["id"], country=c, listed_publicly=True) for c in ("MY", "SG", "TH")]
    private = [await register(reg, own["id"], country=c) for c in ("MY", "KE", "DE", "FR")]
    checked_in, cancelled = consenting[0], consenting[1]
    scan = await client.post("/check-ins", json={"badge_code": checked_in["badge_code"]})
    assert scan.status_code == 200, scan.text
    assert (await client.post(f"/delegates/{cancelled['id']}/cancel")).status_code == 200
    assert (await client.post("/check-ins", json={"badge_code": private[0]["badge_code"]})).status_code == 200

    # Page by page (a page of one): the filter is in the query, so no page is empty and none is skipped.
    for limit in (1, 50):
        listed = await walk_pages(client, "/delegates", limit=limit, headers=ANONYMOUS, edition_id=own["id"])
        assert {d["id"] for d in listed} == {d["id"] for d in consenting}
        for entry in listed:
            assert entry["listed_publicly"] is True
            assert all(entry[key] is None for key in NOT_PUBLIC), entry
            assert entry["full_name"] and entry["country"] and entry["organization"]
    by_id = {d["id"]: d for d in await walk_pages(client, "/delegates", limit=50, headers=ANONYMOUS,
                                                  edition_id=own["id"])}
    assert by_id[checked_in["id"]]["status"] == "checked_in" and by_id[cancelled["id"]]["status"] == "cancelled"
    malaysians = await walk_pages(client, "/delegates", limit=50, headers=ANONYMOUS, edition_id=own["id"],
                                  country="MY")
    assert [d["id"] for d in malaysians] == [consenting[0]["id"]]
    everything = (await client.get("/delegates", params={"limit": 500}, headers=ANONYMOUS)).text
    for person in private:
        assert person["id"] not in everything and person["email"] not in everything

    for headers in STAFF:
        seen = await walk_pages(client, "/delegates", limit=3, headers=headers, edition_id=own["id"])
        assert {d["id"] for d in seen} == {d["id"] for d in consenting + private}, headers
        times = {d["id"]: (d["checked_in_at"], d["cancelled_at"]) for d in seen}
        assert times[checked_in["id"]][0] and times[cancelled["id"]][1] and times[private[0]["id"]][0], headers


async def test_anonymous_detail_of_a_delegate_without_consent_is_404(reg: Deployment, edition: dict[str, Any]
                                                                    ) -> None:
    client = reg["registration"]
    private = await register(reg, edition["id"])
    public = await register(reg, edition["id"], listed_publicly=True)
    assert (await client.post(f"/delegates/{public['id']}/cancel")).status_code == 200

    hidden = assert_problem(await client.get(f"/delegates/{private['id']}", headers=ANONYMOUS), 404,
                            "delegate_not_found")
    # Indistinguishable from an id that names nobody: the answer does not tell who registered.
    missing = uuid.uuid4()
    absent = assert_problem(await client.get(f"/delegates/{missing}", headers=ANONYMOUS), 404, "delegate_not_found")
    assert hidden["detail"].replace(private["id"], "?") == absent["detail"].replace(str(missing), "?")
    unknown_token = await client.get(f"/delegates/{private['id']}", headers={"Authorization": "Bearer nobody"})
    assert_problem(unknown_token, 404, "delegate_not_found")

    shown = await client.get(f"/delegates/{public['id']}", headers=ANONYMOUS)
    assert shown.status_code == 200
    assert shown.json()["status"] == "cancelled"
    assert all(shown.json()[key] is None for key in NOT_PUBLIC), shown.json()
    for headers in STAFF:
        staff = await client.get(f"/delegates/{private['id']}", headers=headers)
        assert staff.status_code == 200 and staff.json()["listed_publicly"] is False, headers
        assert (await client.get(f"/delegates/{public['id']}", headers=headers)).json()["cancelled_at"], headers


async def test_consent_is_changed_by_patch_and_travels_in_no_event(reg: Deployment, edition: dict[str, Any]) -> None:
    client = reg["registration"]
    delegate = await register(reg, edition["id"], country="ID")
    path = f"/delegates/{delegate['id']}"
    events_before = await reg.event_count("registration")

    given = await client.patch(path, json={"listed_publicly": True})
    assert given.status_code == 200, given.text
    assert given.json()["listed_publicly"] is True and given.json()["country"] == "ID"
    assert (await client.get(path, headers=ANONYMOUS)).status_code == 200
    listed = await walk_pages(client, "/delegates", limit=50, headers=ANONYMOUS, edition_id=edition["id"])
    assert delegate["id"] in {d["id"] for d in listed}

    withdrawn = await client.patch(path, json={"listed_publicly": False})
    assert withdrawn.status_code == 200 and withdrawn.json()["listed_publicly"] is False
    assert_problem(await client.get(path, headers=ANONYMOUS), 404, "delegate_not_found")
    listed = await walk_pages(client, "/delegates", limit=50, headers=ANONYMOUS, edition_id=edition["id"])
    assert delegate["id"] not in {d["id"] for d in listed}

    # Consent is personal and counts for nothing: no event for it, and no event names it.
    assert await reg.event_count("registration") == events_before
    for event in reg.bus_events("registration"):
        assert "listed_publicly" not in json.dumps(event), event


@pytest.mark.parametrize("value", [None, "yes", "true", 1, 0, []])
async def test_consent_must_be_a_boolean(reg: Deployment, edition: dict[str, Any], value: Any) -> None:
    client = reg["registration"]
    delegate = await register(reg, edition["id"])
    async with nothing_written(reg, "registration", "/stats"):
        # null is the model's rule ("cannot be null"), named on the body as for the other required fields.
        patched = assert_problem(await client.patch(f"/delegates/{delegate['id']}", json={"listed_publicly": value}),
                                 422, "validation_failed", field="body" if value is None else "listed_publicly")
        assert "listed_publicly" in json.dumps(patched)
        if value is not None:
            body = delegate_body(edition["id"], listed_publicly=value)
            assert_problem(await client.post("/delegates", json=body), 422, "validation_failed",
                           field="listed_publicly")
    assert (await client.get(f"/delegates/{delegate['id']}")).json()["listed_publicly"] is False


async def test_only_the_registrar_changes_consent(reg: Deployment, edition: dict[str, Any]) -> None:
    client = reg["registration"]
    delegate = await register(reg, edition["id"])
    path = f"/delegates/{delegate['id']}"
    assert_problem(await client.patch(path, json={"listed_publicly": True}, headers=ANONYMOUS), 401,
                   "unauthenticated")
    assert_problem(await client.patch(path, json={"listed_publicly": True},
                                      headers={"Authorization": "Bearer checkin-token"}), 403, "forbidden")
    assert (await client.get(path)).json()["listed_publicly"] is False


def _alembic(database_url: str) -> Config:
    config = Config(str(SERVICE_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(SERVICE_DIR / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
async def test_migration_leaves_existing_delegates_unlisted(backend: str, postgres_env: dict[str, str],
                                                            tmp_path: Path) -> None:
    """Delegates registered before consent was asked were never asked: the upgrade keeps them private."""
    async with databases(postgres_env) as pg_urls:
        url = sqlite_urls(tmp_path)["registration"] if backend == "sqlite" else pg_urls["registration"]
        await asyncio.to_thread(command.upgrade, _alembic(url), "0003")
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(sa.text(
                    "INSERT INTO editions (id, number, year, host, starts_on, ends_on, created_at) VALUES "
                    "('e1', 1, 2025, 'Chongqing', '2025-07-30', '2025-07-31', CURRENT_TIMESTAMP)"))
                await conn.execute(sa.text(
                    "INSERT INTO delegates (id, edition_id, full_name, country, email, email_normalized, category, "
                    "status, badge_code, registered_at) VALUES ('d1', 'e1', 'Li Na', 'MY', 'li@example.org', "
                    "'li@example.org', 'guest', 'registered', 'badge-1', CURRENT_TIMESTAMP)"))
            await asyncio.to_thread(command.upgrade, _alembic(url), "head")
            async with engine.connect() as conn:
                listed = (await conn.execute(sa.text("SELECT listed_publicly FROM delegates"))).scalar_one()
            assert listed in (False, 0)
            # ... and the migration goes back and forth.
            await asyncio.to_thread(command.downgrade, _alembic(url), "0003")
            await asyncio.to_thread(command.upgrade, _alembic(url), "head")
        finally:
            await engine.dispose()
