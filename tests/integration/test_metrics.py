"""/metrics of the four running services: what operators alert on and chart exists, passes
`promtool check metrics`, and moves with the traffic; logs carry the request id across services."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devkit.waiting import eventually
from shared.observability.logging import json_formatter
from shared.topology import SERVICE_NAMES
from tests.support.bodies import delegate_body, edition_body, organization_body, project_body
from tests.support.deployment import Deployment, deploy
from tests.support.ops import (
    SYNTHETIC,
    alert_expressions,
    dashboard_expressions,
    exposed_names,
    metric_names,
    run_promtool,
)

pytestmark = pytest.mark.postgres

# Every service exposes these, whatever it does.
COMMON = {
    "http_requests_total", "http_request_duration_seconds_bucket", "http_requests_in_flight", "service_ready",
    "service_info", "process_cpu_seconds_total", "process_resident_memory_bytes", "python_info",
    "db_pool_checked_out_connections", "db_pool_size_connections",
}


class Lines(logging.Handler):
    """Captures the JSON lines the services would print."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(json_formatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture(scope="module")
async def platform(postgres_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
                   ) -> AsyncIterator[tuple[Deployment, Lines, dict[str, str]]]:
    lines = Lines()
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(lines)
    root.setLevel(logging.INFO)
    try:
        data_dir = tmp_path_factory.mktemp("metrics") / "data"
        async with deploy(postgres_env, data_dir, SERVICE_NAMES) as d:
            ids = await _traffic(d)
            yield d, lines, ids
    finally:
        root.removeHandler(lines)
        root.setLevel(previous_level)


async def _traffic(d: Deployment) -> dict[str, str]:
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    edition = (await d["registration"].post("/editions", json=edition_body(2025))).json()
    delegate = await d["registration"].post("/delegates", json=delegate_body(edition["id"], country="MY"),
                                            headers={"X-Request-ID": request_id})
    assert delegate.status_code == 201, delegate.text
    await d["registration"].post("/delegates", json=delegate_body(edition["id"], country="DE"))
    checked = await d["registration"].post("/check-ins", json={"badge_code": delegate.json()["badge_code"]})
    assert checked.status_code == 200, checked.text
    assert (await d["network"].post("/organizations", json=organization_body(country="MY"))).status_code == 201
    await d.projects_know_edition(edition["id"])
    project = await d["projects"].post("/projects", json=project_body(edition["id"], sector="green_energy",
                                                                      amount="1250000.00"))
    assert project.status_code == 201, project.text
    assert (await d["registration"].get("/nope")).status_code == 404

    async def dashboard_caught_up() -> bool:
        totals = (await d["dashboard"].get("/totals")).json()
        return bool(totals["delegates"]["checked_in"] == 1 and totals["projects"]["signed"] == 1
                    and totals["network"]["organizations"] == 1)
    await eventually(dashboard_caught_up, timeout=30)
    return {"request_id": request_id, "edition_id": edition["id"]}


async def scrape(d: Deployment, service: str) -> str:
    response = await d[service].get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def sample(text: str, name: str, **labels: str) -> float | None:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


@pytest.mark.parametrize("service", SERVICE_NAMES)
async def test_promtool_check_metrics_passes(platform: tuple[Deployment, Lines, dict[str, str]], service: str) -> None:
    d, _, _ = platform
    text = await scrape(d, service)
    result = run_promtool("check", "metrics", stdin=text)
    assert result.returncode == 0, f"promtool check metrics on {service}:\n{result.stdout}{result.stderr}"
    assert COMMON <= exposed_names(text), COMMON - exposed_names(text)


async def test_every_metric_an_alert_or_a_panel_queries_exists(
        platform: tuple[Deployment, Lines, dict[str, str]]) -> None:
    d, _, _ = platform
    exposed: set[str] = set()
    for service in SERVICE_NAMES:
        exposed |= exposed_names(await scrape(d, service))
    queries = {f"alert {name}": [expr] for name, expr in alert_expressions().items()} | dashboard_expressions()
    assert len(queries) > 20
    missing = {where: sorted(set().union(*map(metric_names, exprs)) - exposed - SYNTHETIC)
               for where, exprs in queries.items()}
    missing = {where: names for where, names in missing.items() if names}
    assert not missing, f"queried but not exposed by any service: {missing}"


async def test_http_metrics_use_route_templates_and_status_classes(
        platform: tuple[Deployment, Lines, dict[str, str]]) -> None:
    d, _, ids = platform
    await d["registration"].get(f"/editions/{ids['edition_id']}")
    text = await scrape(d, "registration")
    assert sample(text, "http_requests_total", route="/editions/{edition_id}", method="GET", status="2xx") == 1
    assert sample(text, "http_requests_total", route="/delegates", method="POST", status="2xx") == 2
    assert sample(text, "http_requests_total", route="unmatched", method="GET", status="4xx") == 1
    assert ids["edition_id"] not in text, "a raw path leaked into a label"


async def test_event_metrics_move(platform: tuple[Deployment, Lines, dict[str, str]]) -> None:
    d, _, _ = platform
    prefix = d.topic_prefix
    registration, dashboard = await scrape(d, "registration"), await scrape(d, "dashboard")
    registered = "conference.registration.delegate_registered.v1"
    topic = f"{prefix}conference.registration"
    assert sample(registration, "events_published_total", topic=topic, type=registered) == 2
    assert sample(registration, "events_published_total", topic=topic,
                  type="conference.registration.delegate_cancelled.v1") == 0, "not pre-initialised"
    assert (sample(registration, "outbox_relay_batch_size_events_count") or 0) >= 1
    assert sample(registration, "outbox_relay_leader") == 1
    assert sample(dashboard, "events_consumed_total", topic=topic, type=registered) == 2
    assert (sample(dashboard, "event_handler_duration_seconds_count", topic=topic, type=registered) or 0) == 2
    assert sample(dashboard, "events_dead_lettered_total", topic=topic, reason="handler_failed") == 0

    async def lag_reported() -> bool:
        text = await scrape(d, "dashboard")
        lags = [sample(text, "consumer_lag_events", topic=topic, partition=str(p)) for p in range(4)]
        return all(lag == 0 for lag in lags)
    await eventually(lag_reported, timeout=10)

    async def drained() -> bool:
        text = await scrape(d, "registration")
        return sample(text, "outbox_backlog_events") == 0 and sample(text, "outbox_oldest_event_age_seconds") == 0
    await eventually(drained, timeout=10)


async def test_business_gauges_come_from_the_read_model(platform: tuple[Deployment, Lines, dict[str, str]]) -> None:
    d, _, _ = platform
    totals = (await d["dashboard"].get("/totals")).json()

    async def gauges() -> str:
        text = await scrape(d, "dashboard")
        assert sample(text, "conference_delegates_registered", edition="1", year="2025") == \
            totals["delegates"]["registered"] == 2
        return text
    text = await eventually(gauges, timeout=10)
    assert sample(text, "conference_delegates_checked_in", edition="1") == 1
    assert sample(text, "conference_delegate_countries", edition="1") == 2
    assert sample(text, "conference_projects_signed", edition="1") == 1
    assert sample(text, "conference_projects_amount_cny", edition="1") == 1250000.0
    assert sample(text, "conference_sector_projects_signed", edition="1", sector="green_energy") == 1
    assert sample(text, "conference_sector_projects_signed", edition="1", sector="finance") == 0
    assert sample(text, "conference_country_delegates_registered", country="MY") == 1
    assert sample(text, "conference_country_projects_amount_cny", country="CN") == 1250000.0
    assert sample(text, "conference_network_organizations") == 1
    assert sample(text, "conference_network_countries") == 1
    assert "conference_delegates_registered" not in await scrape(d, "registration")


async def test_readiness_is_a_gauge(platform: tuple[Deployment, Lines, dict[str, str]]) -> None:
    d, _, _ = platform
    assert (await d["projects"].get("/readyz")).status_code == 200
    assert sample(await scrape(d, "projects"), "service_ready") == 1


async def test_one_json_line_per_request_and_the_request_id_reaches_the_dashboard(
        platform: tuple[Deployment, Lines, dict[str, str]]) -> None:
    _, lines, ids = platform
    rid = ids["request_id"]
    requests = [line for line in lines.lines if line.get("event") == "request" and line.get("request_id") == rid]
    assert len(requests) == 1, requests
    assert requests[0]["service"] == "registration"
    assert requests[0]["route"] == "/delegates" and requests[0]["status"] == 201
    assert {"timestamp", "level", "method", "duration_ms"} <= set(requests[0])
    applied = [line for line in lines.lines
               if line.get("event") == "event applied" and line.get("correlationid") == rid]
    assert any(line["consumer"].endswith("conference-dashboard") for line in applied), applied
    assert all(line["event_type"] == "conference.registration.delegate_registered.v1" for line in applied)
    assert all(line["request_id"] == rid for line in applied)


def test_log_lines_are_json_with_exceptions(tmp_path: Path) -> None:
    handler = Lines()
    log = logging.getLogger("tests.ops.json")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("it failed for %s", "a reason")
    finally:
        log.removeHandler(handler)
    [line] = handler.lines
    assert line["event"] == "it failed for a reason" and line["level"] == "error"
    assert "RuntimeError: boom" in line["exception"]
