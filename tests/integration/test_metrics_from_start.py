"""Metrics without holes: every series an alert or a Grafana panel selects has a sample from the start.

The platform runs as `conference run` (the real processes, embedded mode); it is given some data, then
restarted, so that every counter starts again at zero while the read model has editions and countries
for the business gauges. Each PromQL expression of deploy/prometheus/alerts.yml and of the dashboards in
deploy/grafana is read by a PromQL parser (promql-parser) into its selectors: a metric name and label
matchers. Before any traffic but the scrapes themselves, each selector selects a sample of a service
whose job (Prometheus's `job` label is the service's name) it matches: a counter that only moves on a
5xx, a retry or a duplicate exists at 0 instead of showing "no data", and `increase()` sees its first
step.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devkit.processes import ADMIN_TOKEN, EmbeddedPlatform
from devkit.waiting import eventually
from shared.topology import SERVICE_NAMES
from tests.support.bodies import delegate_body, edition_body, organization_body, project_body
from tests.support.ops import SYNTHETIC, Selector, alert_expressions, dashboard_expressions, selectors

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
Series = list[tuple[str, dict[str, str], float]]


@pytest.fixture(scope="module")
async def platform(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedPlatform]:
    root = tmp_path_factory.mktemp("metrics-from-start")
    running = EmbeddedPlatform(root / "data", root / "platform.log")
    await running.start()
    try:
        await _seed(running)
    finally:
        running.stop()
    await running.start()  # new processes on the same data: every counter starts again
    try:
        yield running
    finally:
        running.stop()


async def _seed(platform: EmbeddedPlatform) -> None:
    """An edition with a delegate, a network member and a signed project, applied by the dashboard."""
    async with httpx.AsyncClient(headers=AUTH, timeout=30) as c:
        registration, projects = platform.url("registration"), platform.url("projects")
        edition = (await c.post(f"{registration}/editions", json=edition_body(2025))).json()["id"]
        assert (await c.post(f"{registration}/delegates", json=delegate_body(edition))).status_code == 201
        assert (await c.post(f"{platform.url('network')}/organizations",
                             json=organization_body())).status_code == 201

        async def signed() -> bool:  # a 422 until the projects service's replica knows the edition
            response = await c.post(f"{projects}/projects", json=project_body(edition))
            return response.status_code == 201
        await eventually(signed, timeout=30, interval=0.2)

        async def applied() -> bool:
            totals = (await c.get(f"{platform.url('dashboard')}/totals")).json()
            return bool(totals["projects"]["signed"] == 1 and totals["network"]["organizations"] == 1)
        await eventually(applied, timeout=30)


async def scrape(platform: EmbeddedPlatform) -> dict[str, Series]:
    """Every sample of every service's live /metrics, by service (the `job` Prometheus would give it)."""
    found: dict[str, Series] = {}
    async with httpx.AsyncClient(timeout=30) as c:
        for service in SERVICE_NAMES:
            response = await c.get(f"{platform.url(service)}/metrics")
            assert response.status_code == 200
            found[service] = [(s.name, dict(s.labels), float(s.value))
                              for family in text_string_to_metric_families(response.text) for s in family.samples]
    return found


def queried() -> dict[str, list[Selector]]:
    expressions = {f"alert {name}": [expr] for name, expr in alert_expressions().items()} | dashboard_expressions()
    found = {where: [s for expr in exprs for s in selectors(expr) if s.name not in SYNTHETIC]
             for where, exprs in expressions.items()}
    return {where: selected for where, selected in found.items() if selected}  # ServiceDown reads only `up`


def unselected(scraped: dict[str, Series], wanted: dict[str, list[Selector]]) -> dict[str, list[str]]:
    """The selectors (by alert or panel) that select no sample of any service whose job they match."""
    missing: dict[str, list[str]] = {}
    for where, found in wanted.items():
        for selector in found:
            jobs = [j for j in scraped if _job_matches(selector, j)]
            others = Selector(selector.name, tuple(m for m in selector.matchers if m[0] != "job"))
            if not any(others.matches(name, labels) for job in jobs for name, labels, _ in scraped[job]):
                missing.setdefault(where, []).append(str(selector))
    return missing


def _job_matches(selector: Selector, job: str) -> bool:
    return Selector("job", tuple(m for m in selector.matchers if m[0] == "job")).matches("job", {"job": job})


async def test_every_series_an_alert_or_a_panel_selects_has_a_sample_from_the_start(
        platform: EmbeddedPlatform) -> None:
    wanted = queried()
    assert len(wanted) > 20, wanted

    # Gauges of state (a consumer's lag per partition, the read model's figures) are set once the
    # consumer has polled and the snapshot is read: moments after start, with no traffic at all.
    async def every_selector_selects() -> dict[str, Series]:
        scraped = await scrape(platform)
        missing = unselected(scraped, wanted)
        assert not missing, f"selected by an alert or a panel, but no service has the series: {missing}"
        return scraped
    scraped = await eventually(every_selector_selects, timeout=30, interval=0.2)

    # Nothing has failed, been retried or been redelivered since the start: those series are there, at 0.
    for name, labels in [("http_requests_total", {"status": "5xx"}), ("events_retried_total", {}),
                         ("events_duplicate_total", {}), ("events_dead_lettered_total", {})]:
        values = [value for job in scraped.values() for n, sample_labels, value in job
                  if n == name and labels.items() <= sample_labels.items()]
        assert values and set(values) == {0.0}, (name, labels, values)


def sample(series: Series, name: str, **labels: str) -> float | None:
    for n, sample_labels, value in series:
        if n == name and labels.items() <= sample_labels.items():
            return value
    return None


async def test_matched_routes_are_labelled_with_their_template(platform: EmbeddedPlatform) -> None:
    """Routes FastAPI does not record (its own /openapi.json, the Swagger UI files, a 401 answered before
    routing, a CORS preflight) carry their template; only a path no route has is `unmatched`."""
    registration = platform.url("registration")
    before = (await scrape(platform))["registration"]
    async with httpx.AsyncClient(timeout=30) as c:
        assert (await c.get(f"{registration}/openapi.json")).status_code == 200
        assert (await c.get(f"{registration}/docs")).status_code == 200
        assert (await c.get(f"{registration}/docs-assets/swagger-ui.css")).status_code == 200
        assert (await c.post(f"{registration}/editions", json=edition_body(2026))).status_code == 401
        preflight = await c.options(f"{registration}/editions", headers={
            "Origin": "https://example.org", "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 200
        assert (await c.get(f"{registration}/no-such-page")).status_code == 404
    after = (await scrape(platform))["registration"]

    def moved(route: str, method: str, status: str) -> float:
        labels = {"route": route, "method": method, "status": status}
        return (sample(after, "http_requests_total", **labels) or 0) - (sample(before, "http_requests_total",
                                                                               **labels) or 0)
    assert moved("/openapi.json", "GET", "2xx") == 1
    assert moved("/docs", "GET", "2xx") == 1
    assert moved("/docs-assets/{path}", "GET", "2xx") == 1
    assert moved("/editions", "POST", "4xx") == 1
    assert moved("/editions", "OPTIONS", "2xx") == 1
    assert moved("unmatched", "GET", "4xx") == 1
    assert moved("unmatched", "GET", "2xx") == 0


async def test_the_live_page_stream_is_labelled_with_its_route(platform: EmbeddedPlatform) -> None:
    """GET /stream is answered before FastAPI's routing (shared.http.streams), yet counts under its route."""
    dashboard = platform.url("dashboard")

    def streams(text: Series) -> float:
        return sample(text, "http_requests_total", route="/stream", method="GET", status="2xx") or 0

    before = streams((await scrape(platform))["dashboard"])
    async with httpx.AsyncClient(timeout=30) as c, c.stream("GET", f"{dashboard}/stream") as response:
        assert response.status_code == 200
        async for _ in response.aiter_bytes():  # the current figures come at once
            break

    async def counted() -> bool:  # counted when the server sees the stream end
        return streams((await scrape(platform))["dashboard"]) == before + 1
    await eventually(counted, timeout=30)
