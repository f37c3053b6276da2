"""Queries of the read model. Every figure is a sum over at most (editions × countries or sectors)
counter rows: nothing here scans per delegate or per project."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.dashboard.models import (
    delegate_counts,
    network_counts,
    project_country_counts,
    project_sector_counts,
    read_model_state,
)
from services.dashboard.schemas import CountryRow, Totals
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


async def countries(conn: AsyncConnection, *, country: str | None = None) -> list[CountryRow]:
    rows: dict[str, dict[str, Any]] = defaultdict(lambda: {"delegates": 0, "checked_in": 0, "organizations": 0,
                                                          "projects": 0, "amount_fen": 0})
    d = select(delegate_counts.c.country, func.sum(delegate_counts.c.registered),
               func.sum(delegate_counts.c.checked_in)).group_by(delegate_counts.c.country)
    p = select(project_country_counts.c.country, func.sum(project_country_counts.c.projects),
               func.sum(project_country_counts.c.amount_fen)).group_by(project_country_counts.c.country)
    n = select(network_counts.c.country, network_counts.c.organizations)
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
