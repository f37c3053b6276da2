"""Queries of the read model. Every figure is a sum over at most (editions × countries or sectors)
counter rows: nothing here scans per delegate or per project."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.dashboard.models import (
    delegate_counts,
    editions,
    featured_cases,
    network_counts,
    project_country_counts,
    project_sector_counts,
    read_model_state,
)
from services.dashboard.schemas import CaseRow, CountryRow, EditionRow, Overview, Totals
from shared.events.types import Sector
from shared.stats import DelegateFigures, NetworkFigures, project_figures


def _fen(value: Any) -> Decimal:
    return (Decimal(int(value or 0)) / 100).quantize(Decimal("0.01"))


async def totals(conn: AsyncConnection, *, edition_id: str | None) -> Totals:
    per_country = select(delegate_counts.c.country, func.sum(delegate_counts.c.registered).label("registered"),
                         func.sum(delegate_counts.c.checked_in).label("checked_in")).group_by(
                             delegate_counts.c.country)
    if edition_id:
        per_country = per_country.where(delegate_counts.c.edition_id == edition_id)
    rows = (await conn.execute(per_country)).all()
    delegates = DelegateFigures(
        registered=sum(int(r.registered) for r in rows),
        checked_in=sum(int(r.checked_in) for r in rows),
        countries=sum(1 for r in rows if r.registered > 0),
    )

    per_sector = select(project_sector_counts.c.sector, func.sum(project_sector_counts.c.signed),
                        func.sum(project_sector_counts.c.amount_fen)).group_by(project_sector_counts.c.sector)
    if edition_id:
        per_sector = per_sector.where(project_sector_counts.c.edition_id == edition_id)
    sectors = {Sector(s): (int(n), _fen(fen)) for s, n, fen in (await conn.execute(per_sector)).all()}

    network_rows = (await conn.execute(select(network_counts).where(network_counts.c.organizations > 0))).all()
    network = NetworkFigures(organizations=sum(int(r.organizations) for r in network_rows),
                             countries=len(network_rows))
    updated_at = (await conn.execute(select(read_model_state.c.updated_at)
                                     .where(read_model_state.c.name == "totals"))).scalar()
    return Totals(delegates=delegates, projects=project_figures(sectors), network=network, updated_at=updated_at)


async def countries(conn: AsyncConnection, *, country: str | None = None, edition_id: str | None = None
                    ) -> list[CountryRow]:
    """Per-country figures (all editions, or one); network members belong to no edition."""
    rows: dict[str, dict[str, Any]] = defaultdict(lambda: {"delegates": 0, "checked_in": 0, "organizations": 0,
                                                          "projects": 0, "amount_fen": 0})
    d = select(delegate_counts.c.country, func.sum(delegate_counts.c.registered),
               func.sum(delegate_counts.c.checked_in)).group_by(delegate_counts.c.country)
    p = select(project_country_counts.c.country, func.sum(project_country_counts.c.projects),
               func.sum(project_country_counts.c.amount_fen)).group_by(project_country_counts.c.country)
    n = select(network_counts.c.country, network_counts.c.organizations)
    if edition_id:
        d = d.where(delegate_counts.c.edition_id == edition_id)
        p = p.where(project_country_counts.c.edition_id == edition_id)
    if country:
        d = d.where(delegate_counts.c.country == country)
        p = p.where(project_country_counts.c.country == country)
        n = n.where(network_counts.c.country == country)
    for code, registered, checked_in in (await conn.execute(d)).all():
        rows[code].update(delegates=int(registered), checked_in=int(checked_in))
    for code, projects, fen in (await conn.execute(p)).all():
        rows[code].update(projects=int(projects), amount_fen=int(fen))
    for code, organizations in (await conn.execute(n)).all():
        rows[code].update(organizations=int(organizations))
    return [
        CountryRow(country=code, delegates=r["delegates"], checked_in=r["checked_in"],
                   organizations=r["organizations"], projects=r["projects"], amount_cny=_fen(r["amount_fen"]))
        for code, r in sorted(rows.items())
        if r["delegates"] or r["organizations"] or r["projects"]
    ]


async def list_editions(conn: AsyncConnection) -> list[EditionRow]:
    rows = (await conn.execute(select(editions).order_by(editions.c.number))).all()
    return [EditionRow.model_validate(r._mapping) for r in rows]


def current_edition(all_editions: list[EditionRow], today: date) -> EditionRow | None:
    """The latest edition that has started; before the first one starts, the first one."""
    started = [e for e in all_editions if e.starts_on <= today.isoformat()]
    if started:
        return started[-1]
    return all_editions[0] if all_editions else None


async def overview(conn: AsyncConnection, *, today: date) -> Overview:
    """Everything the live page shows, for the current edition."""
    all_editions = await list_editions(conn)
    current = current_edition(all_editions, today)
    edition_id = current.edition_id if current else None
    cases = []
    if edition_id:
        rows = (await conn.execute(select(featured_cases).where(featured_cases.c.edition_id == edition_id)
                                   .order_by(featured_cases.c.rank))).all()
        cases = [CaseRow.model_validate(r._mapping) for r in rows]
    upcoming = [e for e in all_editions if current and e.number > current.number]
    return Overview(
        edition=current, next_edition=upcoming[0] if upcoming else None,
        totals=await totals(conn, edition_id=edition_id),
        countries=await countries(conn, edition_id=edition_id), cases=cases)
