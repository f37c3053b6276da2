"""The walking-skeleton scenario, driven through the public HTTP APIs, and the convergence check."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from devkit.processes import ADMIN_TOKEN
from devkit.waiting import eventually

_serial = itertools.count()


@dataclass
class Urls:
    registration: str
    projects: str
    network: str
    dashboard: str


@dataclass
class World:
    """What the scenario created and what the figures must therefore be."""

    edition_id: str = ""
    delegates: dict[str, str] = field(default_factory=dict)  # id -> country (registered only)
    organizations: dict[str, str] = field(default_factory=dict)  # id -> country (active only)
    projects: dict[str, tuple[Decimal, list[str]]] = field(default_factory=dict)  # signed only
    created_ids: list[tuple[str, str]] = field(default_factory=list)  # (service, id) of every 201

    def countries(self) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = defaultdict(lambda: {"delegates": 0, "checked_in": 0,
                                                                "organizations": 0, "projects": 0,
                                                                "amount_cny": Decimal(0)})
        for country, n in Counter(self.delegates.values()).items():
            rows[country]["delegates"] = n
        for country, n in Counter(self.organizations.values()).items():
            rows[country]["organizations"] = n
        for amount, countries in self.projects.values():
            for country in set(countries):
                rows[country]["projects"] += 1
                rows[country]["amount_cny"] += amount
        return {c: {**r, "amount_cny": f"{r['amount_cny']:.2f}"} for c, r in rows.items()}


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)


async def open_edition(c: httpx.AsyncClient, urls: Urls, world: World) -> None:
    r = await c.post(f"{urls.registration}/editions",
                     json={"year": 2025, "city": "Chongqing", "starts_on": "2025-07-30", "ends_on": "2025-07-31",
                           "theme": "Gathering Overseas Chinese on the New Silk Road"})
    assert r.status_code == 201, r.text
    world.edition_id = r.json()["id"]
    world.created_ids.append(("registration", world.edition_id))


async def register(c: httpx.AsyncClient, urls: Urls, world: World, country: str) -> str:
    n = next(_serial)
    r = await c.post(f"{urls.registration}/delegates", json={
        "edition_id": world.edition_id, "full_name": f"Delegate {n}", "country": country,
        "email": f"delegate{n}@example.org", "category": "representative"})
    assert r.status_code == 201, r.text
    delegate_id: str = r.json()["id"]
    world.delegates[delegate_id] = country
    world.created_ids.append(("registration", delegate_id))
    return delegate_id


async def cancel(c: httpx.AsyncClient, urls: Urls, world: World, delegate_id: str) -> None:
    r = await c.post(f"{urls.registration}/delegates/{delegate_id}/cancel")
    assert r.status_code == 200, r.text
    del world.delegates[delegate_id]


async def join(c: httpx.AsyncClient, urls: Urls, world: World, name: str, country: str) -> str:
    r = await c.post(f"{urls.network}/organizations",
                     json={"name": name, "country": country, "kind": "business_association"})
    assert r.status_code == 201, r.text
    org_id: str = r.json()["id"]
    world.organizations[org_id] = country
    world.created_ids.append(("network", org_id))
    return org_id


async def leave(c: httpx.AsyncClient, urls: Urls, world: World, org_id: str) -> None:
    r = await c.post(f"{urls.network}/organizations/{org_id}/leave")
    assert r.status_code == 200, r.text
    del world.organizations[org_id]


async def sign(c: httpx.AsyncClient, urls: Urls, world: World, amount: str, parties: list[dict[str, str]],
               sector: str = "green_energy") -> str:
    body = {"edition_id": world.edition_id, "title": f"Project {next(_serial)}", "sector": sector,
            "amount": amount, "currency": "CNY", "parties": parties}

    async def attempt() -> httpx.Response | None:
        # The projects service learns editions and members from events: until its replica catches up
        # it answers 422 unknown_*, which a client retries.
        r = await c.post(f"{urls.projects}/projects", json=body)
        if r.status_code == 422 and r.json().get("code", "").startswith("unknown_"):
            return None
        return r

    r = await eventually(attempt, timeout=60, interval=0.1)
    assert r.status_code == 201, r.text
    project_id: str = r.json()["id"]
    world.projects[project_id] = (Decimal(amount), [p["country"] for p in parties])
    world.created_ids.append(("projects", project_id))
    return project_id


async def withdraw(c: httpx.AsyncClient, urls: Urls, world: World, project_id: str) -> None:
    r = await c.post(f"{urls.projects}/projects/{project_id}/withdraw")
    assert r.status_code == 200, r.text
    del world.projects[project_id]


async def drive(urls: Urls) -> World:
    """Create an edition, delegates from several countries, organisations and projects; undo some."""
    world = World()
    async with client() as c:
        await open_edition(c, urls, world)
        delegates = [await register(c, urls, world, country)
                     for country in ["MY", "SG", "TH", "ID", "DE", "MY", "SG", "BR", "KE", "MY", "AU", "FR"]]
        for delegate_id in delegates[3:6]:
            await cancel(c, urls, world, delegate_id)
        orgs = [await join(c, urls, world, f"Chinese Chamber {next(_serial)}", country)
                for country in ["MY", "SG", "TH", "MY"]]
        await leave(c, urls, world, orgs[2])
        p1 = await sign(c, urls, world, "1250000000.00",
                        [{"name": "Sino Solar", "country": "CN"},
                         {"name": "KL Chamber", "country": "MY", "organization_id": orgs[0]}])
        await sign(c, urls, world, "880000000.55", [{"name": "Data Link", "country": "SG"}],
                   sector="digital_economy")
        await sign(c, urls, world, "10.01", [{"name": "Agro", "country": "TH"}, {"name": "Agro CN", "country": "CN"}],
                   sector="agriculture")
        await withdraw(c, urls, world, p1)
    return world


async def figures(c: httpx.AsyncClient, urls: Urls) -> tuple[dict[str, Any], dict[str, Any]]:
    totals = (await c.get(f"{urls.dashboard}/totals")).json()
    stats = {
        "delegates": (await c.get(f"{urls.registration}/stats")).json()["delegates"],
        "projects": (await c.get(f"{urls.projects}/stats")).json()["projects"],
        "network": (await c.get(f"{urls.network}/stats")).json()["network"],
    }
    return {k: totals[k] for k in ("delegates", "projects", "network")}, stats


async def assert_converged(urls: Urls, world: World, timeout: float = 60) -> None:
    """The dashboard equals every service's /stats, field for field, and both equal the world."""
    async with client() as c:
        async def converged() -> bool:
            dashboard, stats = await figures(c, urls)
            assert dashboard == stats, f"dashboard {dashboard} != services {stats}"
            return True

        await eventually(converged, timeout=timeout, interval=0.1)
        dashboard, _ = await figures(c, urls)
        assert dashboard["delegates"]["registered"] == len(world.delegates)
        assert dashboard["delegates"]["countries"] == len(set(world.delegates.values()))
        assert dashboard["network"] == {"organizations": len(world.organizations),
                                        "countries": len(set(world.organizations.values()))}
        assert dashboard["projects"]["signed"] == len(world.projects)
        total = sum((a for a, _ in world.projects.values()), Decimal(0))
        assert dashboard["projects"]["amount_cny"] == f"{total:.2f}"
        countries = (await c.get(f"{urls.dashboard}/countries")).json()["items"]
        assert {row.pop("country"): row for row in countries} == world.countries()


async def assert_all_present(urls: Urls, world: World) -> None:
    """Every 201 the scenario received is present, by id, in the owning service."""
    paths = {"registration": ("delegates", "editions"), "projects": ("projects",), "network": ("organizations",)}
    async with client() as c:
        for service, entity_id in world.created_ids:
            base = getattr(urls, service)
            statuses = [(await c.get(f"{base}/{p}/{entity_id}")).status_code for p in paths[service]]
            assert 200 in statuses, f"{service} lost {entity_id}"
