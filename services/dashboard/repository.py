"""Reads of the read model as typed records: the counter rows, the editions and the featured cases."""

from __future__ import annotations

from sqlalchemy import BigInteger, Label, String, cast, false, func, literal_column, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from services.dashboard.domain import DELEGATE_COUNTS, NETWORK_COUNTS, PROJECT_COUNTRY_COUNTS, SECTOR_COUNTS
from services.dashboard.figures import Counters, DelegateCount, NetworkCount, ProjectCountryCount, SectorCount
from services.dashboard.models import (
    delegate_counts,
    editions,
    featured_cases,
    network_counts,
    project_country_counts,
    project_sector_counts,
    read_model_state,
    timeline_counts,
)
from services.dashboard.schemas import CaseRow, EditionRow, TimelineBucket


async def load_counters(conn: AsyncConnection, *, edition_id: str | None = None, country: str | None = None
                        ) -> Counters:
    """The counter rows, all or those of one edition and/or one country: the one place that reads them.

    One statement (a round trip) for the four counter tables, each row tagged with its table, plus one
    for the date of the last change. Network members belong to no edition, so an edition's rows have
    them all; sector counters belong to no country, so a country's rows have none.
    """
    def tagged(counter: str) -> Label[str]:
        return literal_column(f"'{counter}'", String).label("counter")

    d = select(tagged(DELEGATE_COUNTS), delegate_counts.c.edition_id, delegate_counts.c.country.label("key"),
               delegate_counts.c.registered.label("first"), delegate_counts.c.checked_in.label("second"),
               delegate_counts.c.pending.label("third"))
    zero = literal_column("0", BigInteger)
    s = select(tagged(SECTOR_COUNTS), project_sector_counts.c.edition_id, project_sector_counts.c.sector,
               project_sector_counts.c.signed, project_sector_counts.c.amount_fen, zero)
    p = select(tagged(PROJECT_COUNTRY_COUNTS), project_country_counts.c.edition_id, project_country_counts.c.country,
               project_country_counts.c.projects, project_country_counts.c.amount_fen, zero)
    n = select(tagged(NETWORK_COUNTS), cast(null(), String), network_counts.c.country, network_counts.c.organizations,
               zero, zero)
    if edition_id:
        d = d.where(delegate_counts.c.edition_id == edition_id)
        s = s.where(project_sector_counts.c.edition_id == edition_id)
        p = p.where(project_country_counts.c.edition_id == edition_id)
    if country:
        d = d.where(delegate_counts.c.country == country)
        s = s.where(false())
        p = p.where(project_country_counts.c.country == country)
        n = n.where(network_counts.c.country == country)
    rows = (await conn.execute(union_all(d, s, p, n))).all()
    updated_at = (await conn.execute(select(read_model_state.c.updated_at)
                                     .where(read_model_state.c.name == "totals"))).scalar()
    delegates: list[DelegateCount] = []
    sectors: list[SectorCount] = []
    project_countries: list[ProjectCountryCount] = []
    network: list[NetworkCount] = []
    for r in rows:
        if r.counter == DELEGATE_COUNTS:
            delegates.append(DelegateCount(r.edition_id, r.key, int(r.first), int(r.second), int(r.third)))
        elif r.counter == SECTOR_COUNTS:
            sectors.append(SectorCount(r.edition_id, r.key, int(r.first), int(r.second)))
        elif r.counter == PROJECT_COUNTRY_COUNTS:
            project_countries.append(ProjectCountryCount(r.edition_id, r.key, int(r.first), int(r.second)))
        else:
            network.append(NetworkCount(r.key, int(r.first)))
    return Counters(delegates=tuple(delegates), sectors=tuple(sectors), project_countries=tuple(project_countries),
                    network=tuple(network), updated_at=updated_at)


async def list_editions(conn: AsyncConnection) -> list[EditionRow]:
    """Every edition, in number order."""
    rows = (await conn.execute(select(editions).order_by(editions.c.number))).all()
    return [EditionRow.model_validate(r._mapping) for r in rows]


async def list_featured_cases(conn: AsyncConnection, *, edition_id: str) -> list[CaseRow]:
    """An edition's Top-10 cases, by rank."""
    rows = (await conn.execute(select(featured_cases).where(featured_cases.c.edition_id == edition_id)
                               .order_by(featured_cases.c.rank))).all()
    return [CaseRow.model_validate(r._mapping) for r in rows]


async def load_timeline(conn: AsyncConnection, *, span: str, edition_id: str | None) -> list[TimelineBucket]:
    """The timeline's buckets with a figure, oldest first (every edition summed without ``edition_id``)."""
    t = timeline_counts.c
    query = (select(t.bucket_start, func.sum(t.registered).label("registered"),
                    func.sum(t.checked_in).label("checked_in"))
             .where(t.span == span).group_by(t.bucket_start).order_by(t.bucket_start))
    if edition_id:
        query = query.where(t.edition_id == edition_id)
    rows = (await conn.execute(query)).all()
    return [TimelineBucket(start=r.bucket_start, registered=int(r.registered), checked_in=int(r.checked_in))
            for r in rows if r.registered or r.checked_in]
