"""Business gauges from the read model: the headline figures by edition, per country and per sector.

A scrape never queries the database: the collector renders a snapshot that a background task
refreshes after the consumer has applied events (coalesced to at most one refresh a second) and at
least every 30 s. Every figure is a sum over counter rows, so a refresh reads at most
editions × (countries + sectors) rows. Cardinality is bounded: ≤ 250 countries, 12 sectors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from fastapi import FastAPI
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.dashboard.models import (
    delegate_counts,
    editions,
    network_counts,
    project_country_counts,
    project_sector_counts,
)
from shared.events.types import Sector
from shared.http.context import ServiceContext

log = logging.getLogger(__name__)

REFRESH_SECONDS = 30.0
COALESCE_SECONDS = 1.0


@dataclass
class EditionFigures:
    year: str
    registered: int = 0
    checked_in: int = 0
    countries: int = 0
    signed: int = 0
    amount_fen: int = 0
    sectors: dict[str, tuple[int, int]] = field(default_factory=dict)  # sector -> (signed, amount_fen)


@dataclass
class CountryFigures:
    registered: int = 0
    checked_in: int = 0
    projects: int = 0
    amount_fen: int = 0
    organizations: int = 0


@dataclass
class Snapshot:
    taken_at: float
    editions: dict[str, EditionFigures]  # label value of `edition` -> figures
    countries: dict[str, CountryFigures]
    network_organizations: int
    network_countries: int


async def load_snapshot(engine: AsyncEngine) -> Snapshot:
    async with engine.connect() as conn:
        known = {row.edition_id: row for row in (await conn.execute(
            select(editions.c.edition_id, editions.c.number, editions.c.year))).all()}
        by_edition: dict[str, EditionFigures] = {}

        def edition(edition_id: str) -> EditionFigures:
            label = str(known[edition_id].number) if edition_id in known else edition_id
            if label not in by_edition:
                by_edition[label] = EditionFigures(year=str(known[edition_id].year) if edition_id in known else "")
            return by_edition[label]

        for row in known.values():
            edition(row.edition_id)
        for edition_id, registered, checked_in, country_count in (await conn.execute(
                select(delegate_counts.c.edition_id, func.sum(delegate_counts.c.registered),
                       func.sum(delegate_counts.c.checked_in),
                       func.count().filter(delegate_counts.c.registered > 0))
                .group_by(delegate_counts.c.edition_id))).all():
            figures = edition(edition_id)
            figures.registered += int(registered or 0)
            figures.checked_in += int(checked_in or 0)
            figures.countries += int(country_count or 0)
        for edition_id, sector, signed, fen in (await conn.execute(
                select(project_sector_counts.c.edition_id, project_sector_counts.c.sector,
                       project_sector_counts.c.signed, project_sector_counts.c.amount_fen))).all():
            figures = edition(edition_id)
            figures.signed += int(signed)
            figures.amount_fen += int(fen)
            before = figures.sectors.get(sector, (0, 0))
            figures.sectors[sector] = (before[0] + int(signed), before[1] + int(fen))

        countries: dict[str, CountryFigures] = defaultdict(CountryFigures)
        for country, registered, checked_in in (await conn.execute(
                select(delegate_counts.c.country, func.sum(delegate_counts.c.registered),
                       func.sum(delegate_counts.c.checked_in)).group_by(delegate_counts.c.country))).all():
            countries[country].registered = int(registered or 0)
            countries[country].checked_in = int(checked_in or 0)
        for country, projects, fen in (await conn.execute(
                select(project_country_counts.c.country, func.sum(project_country_counts.c.projects),
                       func.sum(project_country_counts.c.amount_fen))
                .group_by(project_country_counts.c.country))).all():
            countries[country].projects = int(projects or 0)
            countries[country].amount_fen = int(fen or 0)
        organizations = 0
        network_countries = 0
        for country, members in (await conn.execute(
                select(network_counts.c.country, network_counts.c.organizations))).all():
            countries[country].organizations = int(members)
            organizations += int(members)
            network_countries += 1 if members > 0 else 0
    return Snapshot(taken_at=time.time(), editions=by_edition, countries=dict(countries),
                    network_organizations=organizations, network_countries=network_countries)


class ReadModelGauges(Collector):
    """A Prometheus collector over the latest :class:`Snapshot` of the read model."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.snapshot: Snapshot | None = None
        self._changed = asyncio.Event()

    def changed(self) -> None:
        """Called when the consumer has applied events: refresh soon."""
        self._changed.set()

    async def refresh(self) -> None:
        self.snapshot = await load_snapshot(self.engine)

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: keep serving the last snapshot
                log.debug("read-model gauges not refreshed: %r", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), REFRESH_SECONDS)
            await asyncio.sleep(COALESCE_SECONDS)  # a burst of batches makes one refresh
            self._changed.clear()

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self.snapshot
        g: dict[str, GaugeMetricFamily] = {}

        def family(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
            g[name] = GaugeMetricFamily(name, doc, labels=labels)
            return g[name]

        registered = family("conference_delegates_registered", "Delegates registered (not cancelled), by edition.",
                            ["edition", "year"])
        checked_in = family("conference_delegates_checked_in", "Delegates checked in, by edition.",
                            ["edition", "year"])
        delegate_countries = family("conference_delegate_countries",
                                    "Distinct countries among the registered delegates, by edition.",
                                    ["edition", "year"])
        signed = family("conference_projects_signed", "Cooperation projects signed (not withdrawn), by edition.",
                        ["edition", "year"])
        amount = family("conference_projects_amount_cny", "Amount of the signed projects in yuan, by edition.",
                        ["edition", "year"])
        sector_signed = family("conference_sector_projects_signed", "Projects signed, by edition and sector.",
                               ["edition", "year", "sector"])
        sector_amount = family("conference_sector_projects_amount_cny",
                               "Amount of the signed projects in yuan, by edition and sector.",
                               ["edition", "year", "sector"])
        c_registered = family("conference_country_delegates_registered",
                              "Delegates registered, by country (all editions).", ["country"])
        c_checked_in = family("conference_country_delegates_checked_in",
                              "Delegates checked in, by country (all editions).", ["country"])
        c_projects = family("conference_country_projects_signed",
                            "Projects signed with a party from the country (all editions).", ["country"])
        c_amount = family("conference_country_projects_amount_cny",
                          "Full amount in yuan of the projects with a party from the country (all editions).",
                          ["country"])
        c_members = family("conference_country_network_organizations",
                           "Active Collaboration Network members, by country.", ["country"])
        members = family("conference_network_organizations", "Active Collaboration Network members.", [])
        member_countries = family("conference_network_countries",
                                  "Countries with at least one active network member.", [])
        refreshed = family("conference_read_model_snapshot_timestamp_seconds",
                           "Unix time of the read-model snapshot these gauges show.", [])
        if snap is not None:
            for label, e in sorted(snap.editions.items()):
                values = [label, e.year]
                registered.add_metric(values, e.registered)
                checked_in.add_metric(values, e.checked_in)
                delegate_countries.add_metric(values, e.countries)
                signed.add_metric(values, e.signed)
                amount.add_metric(values, e.amount_fen / 100)
                for sector in Sector:
                    n, fen = e.sectors.get(sector.value, (0, 0))
                    sector_signed.add_metric([*values, sector.value], n)
                    sector_amount.add_metric([*values, sector.value], fen / 100)
            for country, c in sorted(snap.countries.items()):
                c_registered.add_metric([country], c.registered)
                c_checked_in.add_metric([country], c.checked_in)
                c_projects.add_metric([country], c.projects)
                c_amount.add_metric([country], c.amount_fen / 100)
                c_members.add_metric([country], c.organizations)
            members.add_metric([], snap.network_organizations)
            member_countries.add_metric([], snap.network_countries)
            refreshed.add_metric([], snap.taken_at)
        yield from g.values()


def install_business_metrics(app: FastAPI) -> ReadModelGauges:
    """Register the gauges in the app's registry; refresh them after events are applied."""
    context: ServiceContext = app.state.context
    gauges = ReadModelGauges(context.read_engine)
    context.metrics.register(gauges)
    context.listeners.append(gauges.changed)
    context.background.append(lambda _context: gauges.run())
    app.state.business_metrics = gauges
    return gauges
