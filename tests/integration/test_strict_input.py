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

pytestmark = pytest.mark.postgres

# Tables a refused write must not touch beyond those nothing_written() already counts.
EXTRA_TABLES = {"registration": ("sessions",), "projects": ("cases",), "network": ()}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def strict(request: pytest.FixtureRequest, postgres_env: dict[str, str],
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp(f"strict-{request.param}") / "data"
    data_dir.mkdir(parents=True)
    urls = ({s: f"sqlite+aiosqlite:///{data_dir / s}.db" for s in STATE_TABLES}
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


def case_body(edition: str, **changes: Any) -> dict[str, Any]:
    return {"edition_id": edition, "rank": 1, "title": "Cold-chain hub", "sector": "trade_logistics",
            "enterprise": "Chongqing Logistics Group", "country": "CN",
            "summary": "A hub for fresh produce.", **changes}


ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"

# -- amounts and rates ----------------------------------------------------------------------------------------

BAD_AMOUNTS: list[tuple[str, dict[str, Any], str]] = [
    ("three decimals", {"amount": "12.345"}, "amount"),
    ("half a fen", {"amount": "1.005"}, "amount"),
    ("underscore separator", {"amount": "1_000"}, "amount"),
    ("padded with spaces", {"amount": " 5 "}, "amount"),
    ("a JSON integer", {"amount": 250}, "amount"),
    ("a JSON decimal number", {"amount": 12.5}, "amount"),
    ("exponent", {"amount": "1e3"}, "amount"),
    ("non-ASCII digits", {"amount": "١٢"}, "amount"),
    ("rate as a JSON number", {"currency": "USD", "fx_rate_to_cny": 7.1}, "fx_rate_to_cny"),
    ("rate as a JSON integer", {"currency": "USD", "fx_rate_to_cny": 7}, "fx_rate_to_cny"),
    ("rate with spaces", {"currency": "USD", "fx_rate_to_cny": " 7.1"}, "fx_rate_to_cny"),
    ("rate with underscore", {"currency": "USD", "fx_rate_to_cny": "7_1"}, "fx_rate_to_cny"),
]


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

BAD_TEXT: list[tuple[str, str, str, dict[str, Any], str]] = [
    # (service, method, path template, body, field)
    ("projects", "POST", "/projects", {"title": "nul\u0000"}, "title"),
    ("projects", "POST", "/projects", {"title": "bell\u0007 title"}, "title"),
    ("projects", "POST", "/projects", {"title": "line\nbreak"}, "title"),
    ("projects", "POST", "/projects", {"title": ZERO_WIDTH}, "title"),
    ("projects", "POST", "/projects", {"parties": [{"name": "\u00a0\u200b ", "country": "CN"}]}, "parties.0.name"),
    ("projects", "POST", "/projects", {"parties": [{"name": "A", "country": "CN", "organization_id": "\u0000"}]},
     "parties.0.organization_id"),
    ("projects", "PATCH", "/projects/{project}", {"title": "\u3164"}, "title"),
    ("projects", "POST", "/cases", {"summary": "first\u0000second"}, "summary"),
    ("projects", "POST", "/cases", {"summary": "\n\t\u200b\n"}, "summary"),
    ("projects", "POST", "/cases", {"enterprise": "esc\u001b[31m"}, "enterprise"),
    ("registration", "POST", "/editions", {"theme": "x\u0000"}, "theme"),
    ("registration", "POST", "/editions", {"city": ZERO_WIDTH}, "city"),
    ("registration", "POST", "/editions", {"co_hosts": ["Sichuan\u0000"]}, "co_hosts.0"),
    ("registration", "POST", "/delegates", {"full_name": "Tan\u0000Wei"}, "full_name"),
    ("registration", "POST", "/delegates", {"full_name": "\u2060\u200b"}, "full_name"),
    ("registration", "POST", "/delegates", {"organization": "del\u007f"}, "organization"),
    ("registration", "POST", "/delegates", {"name_zh": "\u3000"}, "name_zh"),
    ("registration", "POST", "/delegates", {"edition_id": "\u0000"}, "edition_id"),
    ("registration", "PATCH", "/delegates/{delegate}", {"full_name": ZERO_WIDTH}, "full_name"),
    ("registration", "PATCH", "/delegates/{delegate}", {"city": "Kuala\u0085Lumpur"}, "city"),
    ("registration", "POST", "/sessions", {"title": "Forum\u0000"}, "title"),
    ("registration", "POST", "/check-ins", {"badge_code": "\u0000"}, "badge_code"),
    ("network", "POST", "/organizations", {"name": "Chamber\u0000"}, "name"),
    ("network", "POST", "/organizations", {"name": ZERO_WIDTH}, "name"),
    ("network", "POST", "/organizations", {"city": "x\u0007"}, "city"),
    ("network", "PATCH", "/organizations/{organization}", {"name": "\u200b"}, "name"),
    ("network", "PATCH", "/organizations/{organization}", {"name_zh": "总商会\u0000"}, "name_zh"),
]


def full_body(strict: dict[str, Any], method: str, path: str, change: dict[str, Any]) -> dict[str, Any]:
    if method == "PATCH":
        return change
    edition = strict["edition"]
    bodies: dict[str, dict[str, Any]] = {
        "/projects": project_body(edition), "/cases": case_body(edition), "/editions": edition_body(2040),
        "/delegates": delegate_body(edition), "/organizations": organization_body(),
        "/sessions": {"edition_id": edition, "kind": "forum", "title": "Digital economy forum", "capacity": 50,
                      "starts_at": "2025-10-21T09:00:00+08:00"},
        "/check-ins": {"badge_code": "X"}}
    return {**bodies[path], **change}


@pytest.mark.parametrize(("service", "method", "path", "change", "field"),
                         [pytest.param(*case, id=f"{case[1]} {case[2]} {case[4]}") for case in BAD_TEXT])
async def test_control_and_invisible_text_is_422(strict: dict[str, Any], service: str, method: str, path: str,
                                                 change: dict[str, Any], field: str) -> None:
    d: Deployment = strict["d"]
    url = path.format(**strict)
    async with refused(strict, service, url if method == "PATCH" else None):
        response = await d[service].request(method, url, json=full_body(strict, method, path, change))
        assert_problem(response, 422, "validation_failed", field=field)


async def test_a_case_summary_may_span_lines(strict: dict[str, Any]) -> None:
    d: Deployment = strict["d"]
    summary = "A hub for fresh produce.\n\n\tPhase one: 2026.\r\nPhase two: 2028."
    response = await d["projects"].post("/cases", json=case_body(strict["edition"], summary=summary))
    assert response.status_code == 201, response.text
    assert response.json()["summary"] == summary


# -- dates ----------------------------------------------------------------------------------------------------

BAD_DATES: list[tuple[str, str, str, dict[str, Any], str]] = [
    ("registration", "POST", "/editions", {"ends_on": "2040-11-22"}, "ends_on"),       # 33 days
    ("registration", "POST", "/editions", {"ends_on": "9999-12-31"}, "ends_on"),
    ("registration", "POST", "/editions", {"starts_on": "0001-01-01"}, "starts_on"),
    ("registration", "POST", "/editions", {"year": 1999, "starts_on": "1999-10-20", "ends_on": "1999-10-22"},
     "year"),
    ("registration", "POST", "/sessions", {"starts_at": "0001-01-01T00:00:00+05:00"}, "starts_at"),
    ("registration", "POST", "/sessions", {"starts_at": "9999-12-31T23:59:59-05:00"}, "starts_at"),
    ("projects", "POST", "/projects", {"signed_on": "1900-01-01"}, "signed_on"),
    ("projects", "POST", "/projects", {"signed_on": "2999-10-21"}, "signed_on"),
    ("projects", "PATCH", "/projects/{project}", {"signed_on": "0001-01-01"}, "signed_on"),
]


@pytest.mark.parametrize(("service", "method", "path", "change", "field"),
                         [pytest.param(*case, id=f"{case[1]} {case[2]} {case[4]} {i}")
                          for i, case in enumerate(BAD_DATES)])
async def test_dates_far_outside_a_conference_are_422(strict: dict[str, Any], service: str, method: str, path: str,
                                                      change: dict[str, Any], field: str) -> None:
    d: Deployment = strict["d"]
    url = path.format(**strict)
    async with refused(strict, service, url if method == "PATCH" else None):
        response = await d[service].request(method, url, json=full_body(strict, method, path, change))
        assert response.status_code == 422, response.text
        assert_problem(response, 422, response.json()["code"], field=field)
