"""Staff obtain a delegate's personal link (real PostgreSQL, embedded bus)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.registration import personal_links
from tests.support.deployment import Deployment, deploy, open_edition, register
from tests.support.http_checks import assert_problem

pytestmark = pytest.mark.postgres
SECRET = "integration-personal-link-secret-0123456789"


@pytest.fixture(scope="module")
async def reg(postgres_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    async with deploy(postgres_env, tmp_path_factory.mktemp("links") / "data", ["registration"],
                      personal_link_secret=SECRET) as d:
        yield d


async def test_registrar_obtains_the_personal_link(reg: Deployment) -> None:
    edition = await open_edition(reg)
    delegate = await register(reg, edition["id"])
    response = await reg["registration"].get(f"/delegates/{delegate['id']}/personal-link",
                                             headers={"Authorization": "Bearer registrar-token"})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["delegate_id"] == delegate["id"]
    assert personal_links.verify(delegate["id"], body["token"], SECRET)
    assert body["badge_url"] == f"/delegates/{delegate['id']}/badge.pdf?token={body['token']}"


async def test_personal_link_is_staff_only(reg: Deployment) -> None:
    edition = await open_edition(reg)
    delegate = await register(reg, edition["id"])
    path = f"/delegates/{delegate['id']}/personal-link"
    client = reg["registration"]
    assert_problem(await client.get(path, headers={"Authorization": ""}), 401, "unauthenticated")
    assert_problem(await client.get(path, headers={"Authorization": "Bearer checkin-token"}), 403, "forbidden")
    unknown = "/delegates/00000000-0000-0000-0000-000000000000/personal-link"
    assert_problem(await client.get(unknown), 404, "delegate_not_found")
