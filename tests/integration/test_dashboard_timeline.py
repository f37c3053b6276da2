"""The live page's timeline: registrations that stand and check-ins per day and per ten minutes, from the
read model (issue 14 part 6; real PostgreSQL, the embedded log)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from devkit.waiting import eventually
from services.dashboard.domain import CONFERENCE_TIME
from tests.support.deployment import Deployment, deploy, open_edition, register
from tests.support.http_checks import assert_problem

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
async def d(postgres_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    async with deploy(postgres_env, tmp_path_factory.mktemp("timeline") / "data", ["registration", "dashboard"]) as d:
        yield d


async def test_the_timeline_adds_up_to_the_services_figures(d: Deployment) -> None:
    edition = await open_edition(d)
    delegates = [await register(d, edition["id"]) for _ in range(3)]
    for delegate in delegates[:2]:
        scan = await d["registration"].post("/check-ins", json={"badge_code": delegate["badge_code"]})
        assert scan.status_code == 200, scan.text
    assert (await d["registration"].post(f"/delegates/{delegates[2]['id']}/cancel")).status_code == 200

    async def settled(span: str) -> dict[str, Any]:
        body: dict[str, Any] = (await d["dashboard"].get("/timeline", params={
            "edition_id": edition["id"], "span": span})).json()
        assert sum(b["registered"] for b in body["buckets"]) == 2  # the cancelled one left its bucket
        assert sum(b["checked_in"] for b in body["buckets"]) == 2
        return body

    now = datetime.now(UTC).astimezone(CONFERENCE_TIME)
    day = await eventually(lambda: settled("day"), timeout=20)
    assert day["time_zone"] == "+08:00" and day["span"] == "day"
    start = datetime.fromisoformat(day["buckets"][-1]["start"])
    assert start.utcoffset() == CONFERENCE_TIME.utcoffset(None)
    assert start.date() == now.date() and (start.hour, start.minute) == (0, 0)
    ten = await eventually(lambda: settled("10min"), timeout=20)
    starts = [datetime.fromisoformat(b["start"]) for b in ten["buckets"]]
    assert all(s.minute % 10 == 0 and s.second == 0 for s in starts) and starts == sorted(starts)
    stats = (await d["registration"].get("/stats", params={"edition_id": edition["id"]})).json()["delegates"]
    assert (stats["registered"], stats["checked_in"]) == (2, 2)


async def test_a_bad_span_is_a_clear_422(d: Deployment) -> None:
    assert_problem(await d["dashboard"].get("/timeline", params={"span": "hour"}), 422, "validation_failed",
                   field="query.span")
    empty = (await d["dashboard"].get("/timeline", params={"edition_id": "none"})).json()
    assert empty["buckets"] == []


async def test_the_live_page_knows_the_conference_days(d: Deployment) -> None:
    """/overview gives the edition's first and last day: the page draws ten-minute buckets between them."""
    edition = await open_edition(d)

    async def shown() -> dict[str, Any]:
        body: dict[str, Any] = (await d["dashboard"].get("/overview")).json()
        shown_edition: dict[str, Any] = body["edition"]
        assert shown_edition["edition_id"] == edition["id"]
        return shown_edition

    shown_edition = await eventually(shown, timeout=20)
    assert (shown_edition["starts_on"], shown_edition["ends_on"]) == (edition["starts_on"], edition["ends_on"])
