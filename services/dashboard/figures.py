"""The announced figures, summed from the read model's counter rows (pure: no database here).

Every figure is a sum over at most (editions × countries or sectors) counter rows, never over
delegates or projects. `GET /totals`, `GET /countries`, the live page's overview and the Prometheus
gauges all sum through these functions: they differ only in which rows they are given.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from services.dashboard.schemas import CaseRow, CountryRow, EditionRow, Overview, Totals
from shared.events.types import Sector
from shared.stats import DelegateFigures, NetworkFigures, project_figures


@dataclass(frozen=True)
class DelegateCount:
    edition_id: str
    country: str
    registered: int
    checked_in: int
    pending: int = 0


@dataclass(frozen=True)
class SectorCount:
    edition_id: str
    sector: str
    signed: int
    amount_fen: int


@dataclass(frozen=True)
class ProjectCountryCount:
    edition_id: str
    country: str
    projects: int
    amount_fen: int


@dataclass(frozen=True)
class NetworkCount:
    country: str
    organizations: int


@dataclass(frozen=True)
class Counters:
    """Counter rows of the read model (all of them, or those of one edition or country)."""

    delegates: tuple[DelegateCount, ...] = ()
    sectors: tuple[SectorCount, ...] = ()
    project_countries: tuple[ProjectCountryCount, ...] = ()
    network: tuple[NetworkCount, ...] = ()  # network members belong to no edition
    updated_at: datetime | None = None  # when an event last changed a figure

    def of_edition(self, edition_id: str | None) -> Counters:
        """The rows of one edition; without an edition (None or empty), all of them."""
        if not edition_id:
            return self
        return replace(self, delegates=tuple(r for r in self.delegates if r.edition_id == edition_id),
                       sectors=tuple(r for r in self.sectors if r.edition_id == edition_id),
                       project_countries=tuple(r for r in self.project_countries if r.edition_id == edition_id))


@dataclass
class CountryFigures:
    registered: int = 0
    checked_in: int = 0
    projects: int = 0
    amount_fen: int = 0
    organizations: int = 0


def fen_to_cny(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def totals(counters: Counters) -> Totals:
    """The headline figures of the given rows, in the shape of the services' ``/stats``."""
    per_country: dict[str, int] = defaultdict(int)
    for d in counters.delegates:
        per_country[d.country] += d.registered
    by_sector: dict[str, tuple[int, int]] = {}
    for s in counters.sectors:
        signed, fen = by_sector.get(s.sector, (0, 0))
        by_sector[s.sector] = (signed + s.signed, fen + s.amount_fen)
    members = [n for n in counters.network if n.organizations > 0]
    return Totals(
        delegates=DelegateFigures(registered=sum(d.registered for d in counters.delegates),
                                  checked_in=sum(d.checked_in for d in counters.delegates),
                                  countries=sum(1 for registered in per_country.values() if registered > 0),
                                  pending=sum(d.pending for d in counters.delegates)),
        projects=project_figures({Sector(s): (n, fen_to_cny(fen)) for s, (n, fen) in by_sector.items()}),
        network=NetworkFigures(organizations=sum(n.organizations for n in members), countries=len(members)),
        updated_at=counters.updated_at,
    )


def country_figures(counters: Counters) -> dict[str, CountryFigures]:
    """Every country that has a counter row, zeros included."""
    figures: dict[str, CountryFigures] = defaultdict(CountryFigures)
    for d in counters.delegates:
        figures[d.country].registered += d.registered
        figures[d.country].checked_in += d.checked_in
    for p in counters.project_countries:
        figures[p.country].projects += p.projects
        figures[p.country].amount_fen += p.amount_fen
    for n in counters.network:
        figures[n.country].organizations += n.organizations
    return dict(figures)


def countries(counters: Counters) -> list[CountryRow]:
    """The countries with a figure (delegates, members or projects), by code."""
    return [
        CountryRow(country=code, delegates=c.registered, checked_in=c.checked_in, organizations=c.organizations,
                   projects=c.projects, amount_cny=fen_to_cny(c.amount_fen))
        for code, c in sorted(country_figures(counters).items())
        if c.registered or c.organizations or c.projects
    ]


@dataclass(frozen=True)
class EditionTotals:
    """One edition's figures as the gauges label them."""

    label: str  # the edition's number, or its id while its EditionOpened has not arrived
    year: str
    totals: Totals


def totals_by_edition(editions: list[EditionRow], counters: Counters) -> list[EditionTotals]:
    """Every known edition (zeros included) and every edition that has counters, by label."""
    known = {e.edition_id: e for e in editions}
    ids = set(known) | {d.edition_id for d in counters.delegates} | {s.edition_id for s in counters.sectors}
    by_label = [EditionTotals(label=str(known[i].number) if i in known else i,
                              year=str(known[i].year) if i in known else "",
                              totals=totals(counters.of_edition(i))) for i in ids]
    return sorted(by_label, key=lambda e: e.label)


def current_edition(editions: list[EditionRow], today: date) -> EditionRow | None:
    """The latest edition that has started; before the first one starts, the first one."""
    started = [e for e in editions if e.starts_on <= today.isoformat()]
    if started:
        return started[-1]
    return editions[0] if editions else None


def overview(editions: list[EditionRow], counters: Counters, cases: list[CaseRow], *, today: date) -> Overview:
    """What the live page shows: the current edition's figures (all editions' before any edition is
    known), its countries and its featured cases. ``editions`` are in number order."""
    current = current_edition(editions, today)
    edition_counters = counters.of_edition(current.edition_id if current else None)
    upcoming = [e for e in editions if current and e.number > current.number]
    return Overview(edition=current, next_edition=upcoming[0] if upcoming else None,
                    totals=totals(edition_counters), countries=countries(edition_counters), cases=cases)


@dataclass(frozen=True)
class Snapshot:
    """The read model as the live page and the gauges see it, taken at one moment."""

    taken_at: float  # Unix time
    editions: list[EditionRow]
    counters: Counters
    overview: Overview
