"""Strict input through HTTP, the same on SQLite (embedded) as on PostgreSQL: amounts and rates as exact
strings, text without control characters and with something visible, dates a conference can have.

Each refused request is a 422 problem+json naming the field, and writes nothing: no row, no event, the
entity it would have changed read back the same.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.bodies import delegate_body, edition_body, organization_body, project_body
from tests.support.deployment import STATE_TABLES, Deployment, deploy, nothing_written
from tests.support.http_checks import assert_problem
from tests.support.strict_input import BAD_AMOUNTS, BAD_DATES, BAD_TEXT, case_body, request_body

pytestmark = pytest.mark.postgres

# Tables a refused write must not touch beyond those nothing_written() already counts.
EXTRA_TABLES = {"registration": ("sessions",), "projects": ("cases",), "network": ()}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def strict(request: pytest.FixtureRequest, postgres_env: dict[str, str],
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp(f"strict-{request.param}") / "data"
    data_dir.mkdir(parents=True)
    urls = ({s: f"sqlite+inline:///{data_dir / s}.db" for s in STATE_TABLES}
            if request.param == "sqlite" else None)
    async with deploy(postgres_env, data_dir, ["registration", "projects", "network"], urls=urls) as d:
        if request.param == "sqlite":
            assert all(url.startswith("sqlite") for url in d.database_urls.values())
        reg, proj, net = d["registration"], d["projects"], d["network"]
        response = await reg.post("/editions", json=edition_body(2025))
        assert response.status_code == 201, response.text
        edition = response.json()["id"]
        await d.projects_know_edition(edition)
        delegate = await reg.post("/delegates", json=delegate_body(edition))
        assert delegate.status_code == 201, delegate.text
        project = await proj.post("/projects", json=project_body(edition))
        assert project.status_code == 201, project.text
        organization = await net.post("/organizations", json=organization_body())
        assert organization.status_code == 201, organization.text
        yield {"d": d, "edition": edition, "delegate": delegate.json()["id"], "project": project.json()["id"],
               "organization": organization.json()["id"]}


@contextlib.asynccontextmanager
async def refused(strict: dict[str, Any], service: str, read_back: str | None = None) -> AsyncIterator[None]:
    d: Deployment = strict["d"]
    counts = {t: await d.scalar(service, f'SELECT count(*) FROM "{t}"') for t in EXTRA_TABLES[service]}
    before = (await d[service].get(read_back)).json() if read_back else None
    async with nothing_written(d, service):
        yield
    assert {t: await d.scalar(service, f'SELECT count(*) FROM "{t}"') for t in EXTRA_TABLES[service]} == counts
    if read_back:
        assert (await d[service].get(read_back)).json() == before


@pytest.mark.parametrize(("change", "field"), [pytest.param(c, f, id=i) for i, c, f in BAD_AMOUNTS])
async def test_amounts_and_rates_are_exact_strings_or_422(strict: dict[str, Any], change: dict[str, Any],
                                                          field: str) -> None:
    d: Deployment = strict["d"]
    async with refused(strict, "projects"):
        body = assert_problem(await d["projects"].post("/projects", json=project_body(strict["edition"], **change)),
                              422, "validation_failed", field=field)
    assert field in body["detail"]
    async with refused(strict, "projects", f"/projects/{strict['project']}"):
        assert_problem(await d["projects"].patch(f"/projects/{strict['project']}", json=change),
                       422, "validation_failed", field=field)


async def test_valid_amounts_and_rates_are_kept_exactly(strict: dict[str, Any]) -> None:
    d: Deployment = strict["d"]
    response = await d["projects"].post("/projects", json=project_body(
        strict["edition"], amount="12.5", currency="USD", fx_rate_to_cny="7.12345678"))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["amount"] == "12.50" and created["amount_cny"] == "89.04"


# -- text -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("service", "method", "path", "change", "field"),
                         [pytest.param(*case, id=f"{case[1]} {case[2]} {case[4]}") for case in BAD_TEXT])
async def test_control_and_invisible_text_is_422(strict: dict[str, Any], service: str, method: str, path: str,
                                                 change: dict[str, Any], field: str) -> None:
    d: Deployment = strict["d"]
    url = path.format(**strict)
    async with refused(strict, service, url if method == "PATCH" else None):
        response = await d[service].request(method, url, json=request_body(strict, method, path, change))
        assert_problem(response, 422, "validation_failed", field=field)


async def test_a_case_summary_may_span_lines(strict: dict[str, Any]) -> None:
    d: Deployment = strict["d"]
    summary = "A hub for fresh produce.\n\n\tPhase one: 2026.\r\nPhase two: 2028."
    response = await d["projects"].post("/cases", json=case_body(strict["edition"], summary=summary))
    assert response.status_code == 201, response.text
    assert response.json()["summary"] == summary


# -- dates ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("service", "method", "path", "change", "field"),
                         [pytest.param(*case, id=f"{case[1]} {case[2]} {case[4]} {i}")
                          for i, case in enumerate(BAD_DATES)])
async def test_dates_far_outside_a_conference_are_422(strict: dict[str, Any], service: str, method: str, path: str,
                                                      change: dict[str, Any], field: str) -> None:
    d: Deployment = strict["d"]
    url = path.format(**strict)
    async with refused(strict, service, url if method == "PATCH" else None):
        response = await d[service].request(method, url, json=request_body(strict, method, path, change))
        assert response.status_code == 422, response.text
        assert_problem(response, 422, response.json()["code"], field=field)
