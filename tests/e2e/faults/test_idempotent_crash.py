"""kill -9 between the idempotent commit and the response: the write and the key's stored answer were
committed together, so the retry with the same key after the restart replays the 201 and nothing is
written twice (DESIGN.md §4, issue 11)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path

import httpx
import pytest

from shared.http.idempotency import PAUSE_AFTER_COMMIT_ENV, PAUSED_AFTER_COMMIT
from tests.support.faults import assert_converged, client, launched, wait_for_log

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


async def test_kill_9_between_commit_and_response_replays_the_stored_201(
        postgres_env: dict[str, str], kafka_env: dict[str, str], tmp_path: Path) -> None:
    # The projects service holds every idempotent answer 30 s after its commit: the window to kill in.
    async with launched(postgres_env, kafka_env, tmp_path,
                        extra_env={"projects": {PAUSE_AFTER_COMMIT_ENV: "30"}}) as platform:
        projects = platform.procs["projects"]
        title = f"Crash-safe project {uuid.uuid4().hex[:8]}"
        body = {"edition_id": platform.edition_id, "title": title, "sector": "green_energy",
                "amount": "1234567.89", "currency": "CNY",
                "parties": [{"name": "Sino Partner", "country": "CN"}, {"name": "Partner", "country": "MY"}]}
        headers = {"Idempotency-Key": f"sign-{title}"}
        url = f"{platform.url('projects')}/projects"
        async with client() as c:
            mark = projects.log_path.stat().st_size
            first = asyncio.create_task(c.post(url, json=body, headers=headers))
            await wait_for_log(projects.log_path, PAUSED_AFTER_COMMIT, after=mark, timeout=30)
            projects.kill()  # committed; the client never got its answer
            with contextlib.suppress(httpx.HTTPError):
                await first
            assert first.exception() is not None, "the first request was answered before the kill"

            env = {k: v for k, v in projects.env.items() if k != PAUSE_AFTER_COMMIT_ENV}
            await platform.restart("projects", env)
            retry = await c.post(url, json=body, headers=headers)
            assert retry.status_code == 201, retry.text
            assert retry.headers["idempotent-replayed"] == "true"
            assert retry.json()["title"] == title

            again = await c.post(url, json=body, headers=headers)
            assert again.json() == retry.json()
            listed = (await c.get(url, params={"edition_id": platform.edition_id, "limit": 500})).json()["items"]
            assert [p["id"] for p in listed if p["title"] == title] == [retry.json()["id"]]

        figures = await assert_converged(platform, edition_id=platform.edition_id)
        assert figures["projects"]["signed"] == 1
        assert figures["projects"]["amount_cny"] == "1234567.89"
