"""Business gauges from the read model: the headline figures by edition, per country and per sector.

A scrape never queries the database: the collector renders the latest snapshot of the read model,
which one task refreshes after the consumer has applied events and at least every 30 s
(``refresher.py``). Every figure is a sum over counter rows (``figures.py``), so a refresh reads at most
editions × (countries + sectors) rows. Cardinality is bounded: ≤ 250 countries, 12 sectors.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.dashboard.figures import country_figures, totals, totals_by_edition
from services.dashboard.refresher import SnapshotRefresher
from shared.events.types import Sector
from shared.http.context import ServiceContext


class ReadModelGauges(Collector):
    """A Prometheus collector over the refresher's latest snapshot of the read model."""

    def __init__(self, refresher: SnapshotRefresher) -> None:
        self._refresher = refresher

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self._refresher.snapshot
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
            for edition in totals_by_edition(snap.editions, snap.counters):
                values = [edition.label, edition.year]
                delegates, projects = edition.totals.delegates, edition.totals.projects
                registered.add_metric(values, delegates.registered)
                checked_in.add_metric(values, delegates.checked_in)
                delegate_countries.add_metric(values, delegates.countries)
                signed.add_metric(values, projects.signed)
                amount.add_metric(values, float(projects.amount_cny))
                for sector in Sector:
                    figures = projects.by_sector[sector]
                    sector_signed.add_metric([*values, sector.value], figures.count)
                    sector_amount.add_metric([*values, sector.value], float(figures.amount_cny))
            for country, c in sorted(country_figures(snap.counters).items()):
                c_registered.add_metric([country], c.registered)
                c_checked_in.add_metric([country], c.checked_in)
                c_projects.add_metric([country], c.projects)
                c_amount.add_metric([country], c.amount_fen / 100)
                c_members.add_metric([country], c.organizations)
            network = totals(snap.counters).network
            members.add_metric([], network.organizations)
            member_countries.add_metric([], network.countries)
            refreshed.add_metric([], snap.taken_at)
        yield from g.values()


def install_business_metrics(app: FastAPI, refresher: SnapshotRefresher) -> ReadModelGauges:
    """Register the gauges of the refresher's snapshot in the app's registry."""
    context: ServiceContext = app.state.context
    gauges = ReadModelGauges(refresher)
    context.metrics.register(gauges)
    app.state.business_metrics = gauges
    return gauges
