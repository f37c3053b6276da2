"""Replays the 2025 conference through the services' public HTTP APIs.

Every POST carries a deterministic ``Idempotency-Key``, so a second run creates nothing new: the
services answer with what they answered the first time. The projects service learns editions and
network members from events, so a project is retried while it answers ``422 unknown_*``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.demo import data

RETRY_FOR_SECONDS = 60.0


@dataclass
class Targets:
    registration: str
    projects: str
    network: str
    dashboard: str
    token: str


@dataclass
class ReplayResult:
    edition_id: str
    ids: dict[str, str] = field(default_factory=dict)  # demo key -> id in its service


class DemoError(RuntimeError):
    """A service refused the replay in a way a retry will not fix."""


class Replay:
    def __init__(self, targets: Targets, *, fast: bool, seed: int = data.SEED, concurrency: int = 8,
                 progress: Progress | None = None) -> None:
        self.targets = targets
        self.fast = fast
        self.conference = data.build(seed)
        self.seed = seed
        self.concurrency = concurrency
        self.progress = progress
        self.ids: dict[str, str] = {}
        self._client: httpx.AsyncClient | None = None

    # -- HTTP ---------------------------------------------------------------------------------------------

    async def _post(self, url: str, key: str, body: dict[str, Any], *, ok: Iterable[int] = (200, 201),
                    retry_unknown: bool = False) -> httpx.Response:
        assert self._client is not None
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        while True:
            try:
                response = await self._client.post(url, json=body,
                                                   headers={"Idempotency-Key": f"demo-{self.seed}-{key}"})
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
                continue
            code = response.json().get("code", "") if response.status_code >= 400 else ""
            retryable = (response.status_code in (503, 409) and code in ("database_unavailable",
                                                                         "idempotency_in_progress")) or (
                retry_unknown and response.status_code == 422 and code.startswith("unknown_"))
            if retryable and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                continue
            if response.status_code not in ok:
                raise DemoError(f"POST {url} ({key}) answered {response.status_code}: {response.text[:300]}")
            return response

    async def _each(self, label: str, items: list[Any], action: Callable[[Any], Awaitable[None]],
                    pace_seconds: float) -> None:
        """Run ``action`` over ``items`` with bounded concurrency; spread over ``pace_seconds`` unless fast."""
        task = self.progress.add_task(label, total=len(items)) if self.progress else None
        semaphore = asyncio.Semaphore(self.concurrency)
        delay = 0.0 if self.fast or not items else pace_seconds / len(items)

        async def one(index: int, item: Any) -> None:
            if delay:
                await asyncio.sleep(index * delay)
            async with semaphore:
                await action(item)
            if self.progress is not None and task is not None:
                self.progress.advance(task)

        await asyncio.gather(*(one(i, item) for i, item in enumerate(items)))

    # -- the conference -----------------------------------------------------------------------------------

    async def run(self) -> ReplayResult:
        t = self.targets
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {t.token}"}, timeout=30) as client:
            self._client = client
            c = self.conference
            organizations = {o.key: o for o in c.organizations}
            first = (await self._post(f"{t.registration}/editions", "edition-2025", data.FIRST_EDITION)).json()
            self.ids["edition-2025"] = edition_id = first["id"]
            await self._post(f"{t.registration}/editions", "edition-2027", data.NEXT_EDITION)

            async def register(d: data.Delegate) -> None:
                body = {"edition_id": edition_id, "full_name": d.full_name, "name_zh": d.name_zh,
                        "country": d.country, "organization": d.organization, "email": d.email,
                        "category": d.category, "listed_publicly": d.listed_publicly}
                response = (await self._post(f"{t.registration}/delegates", d.key, body)).json()
                self.ids[d.key] = response["id"]
                self.ids[f"badge:{d.key}"] = response["badge_code"]

            async def join(o: data.Organization) -> None:
                body = {"name": o.name, "country": o.country, "kind": o.kind, "website": o.website}
                self.ids[o.key] = (await self._post(f"{t.network}/organizations", o.key, body)).json()["id"]

            await asyncio.gather(
                self._each("delegates register", c.delegates, register, pace_seconds=8),
                self._each("network members join", c.organizations, join, pace_seconds=6))

            async def check_in(d: data.Delegate) -> None:
                await self._post(f"{t.registration}/check-ins", f"{d.key}-check-in",
                                 {"badge_code": self.ids[f"badge:{d.key}"]}, ok=(200, 409))

            async def cancel(d: data.Delegate) -> None:
                await self._post(f"{t.registration}/delegates/{self.ids[d.key]}/cancel", f"{d.key}-cancel", {},
                                 ok=(200, 409))

            async def sign(p: data.Project) -> None:
                parties: list[dict[str, Any]] = [{"name": p.chinese_party, "country": "CN"}]
                members = {organizations[k].country: organizations[k] for k in p.member_keys}
                for country in p.overseas_countries:
                    org = members.get(country)
                    parties.append({"name": org.name, "country": country, "organization_id": self.ids[org.key]}
                                   if org else {"name": f"{data.country_name(country)} partner consortium",
                                                "country": country})
                body = {"edition_id": edition_id, "title": p.title, "sector": p.sector, "amount": f"{p.amount:.2f}",
                        "currency": "CNY", "parties": parties, "signed_on": "2025-07-30"}
                response = await self._post(f"{t.projects}/projects", p.key, body, retry_unknown=True)
                self.ids[p.key] = response.json()["id"]

            await asyncio.gather(
                self._each("badges scanned", [d for d in c.delegates if d.checks_in], check_in, pace_seconds=6),
                self._each("cancellations", [d for d in c.delegates if d.cancels], cancel, pace_seconds=2),
                self._each("projects signed", c.projects, sign, pace_seconds=8))

            sessions: list[str] = []
            for index, (kind, title, capacity) in enumerate(c.sessions):
                body = {"edition_id": edition_id, "kind": kind, "title": title, "capacity": capacity,
                        "starts_at": f"2025-07-{30 + index % 2}T{9 + index % 8:02d}:00:00+08:00"}
                sessions.append((await self._post(f"{t.registration}/sessions", f"session-{index}", body)).json()["id"])

            async def enrol(item: tuple[int, str]) -> None:
                index, key = item
                await self._post(f"{t.registration}/sessions/{sessions[index]}/enrollments",
                                 f"enrol-{index}-{key}", {"delegate_id": self.ids[key]}, ok=(200, 201))

            async def feature(case: data.Case) -> None:
                body: dict[str, Any] = {"edition_id": edition_id, "rank": case.rank, "title": case.title,
                                        "sector": case.sector, "enterprise": case.enterprise, "country": case.country,
                                        "summary": case.summary}
                if case.project_key:
                    body["project_id"] = self.ids[case.project_key]
                self.ids[case.key] = (await self._post(f"{t.projects}/cases", case.key, body,
                                                       retry_unknown=True)).json()["id"]

            attending = {d.key for d in c.delegates if not d.cancels}
            await asyncio.gather(
                self._each("forum and field-visit enrolments", [e for e in c.enrollments if e[1] in attending],
                           enrol, pace_seconds=4),
                self._each("Top-10 cases featured", c.cases, feature, pace_seconds=3))
        return ReplayResult(edition_id=edition_id, ids=self.ids)


async def wait_until_up(targets: Targets, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        for base in (targets.registration, targets.projects, targets.network, targets.dashboard):
            while True:
                try:
                    if (await client.get(f"{base}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise DemoError(f"{base} does not answer; start the platform first (`conference run`)")
                await asyncio.sleep(0.2)


def progress_bar() -> Progress:
    return Progress(TextColumn("[bold]{task.description:<34}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn())


async def replay(targets: Targets, *, fast: bool, seed: int = data.SEED, show_progress: bool = True) -> ReplayResult:
    await wait_until_up(targets)
    if not show_progress:
        return await Replay(targets, fast=fast, seed=seed).run()
    with progress_bar() as progress:
        return await Replay(targets, fast=fast, seed=seed, progress=progress).run()
