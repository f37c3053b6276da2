"""Read-side use cases of the dashboard. Every figure is a sum over at most (editions × countries or
sectors) counter rows, read by ``repository.load_counters`` and summed by ``figures``: nothing here
scans per delegate or per project."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from services.dashboard import domain, figures, repository
from services.dashboard.figures import Snapshot
from services.dashboard.schemas import CountryRow, Overview, Timeline, Totals


async def totals(conn: AsyncConnection, *, edition_id: str | None) -> Totals:
    return figures.totals(await repository.load_counters(conn, edition_id=edition_id))


async def countries(conn: AsyncConnection, *, country: str | None = None, edition_id: str | None = None
                    ) -> list[CountryRow]:
    """Per-country figures (all editions, or one); network members belong to no edition."""
    return figures.countries(await repository.load_counters(conn, edition_id=edition_id, country=country))


async def snapshot(conn: AsyncConnection, *, now: datetime) -> Snapshot:
    """The whole read model's figures and the live page's overview of the current edition."""
    today = now.date()
    editions = await repository.list_editions(conn)
    counters = await repository.load_counters(conn)
    current = figures.current_edition(editions, today)
    cases = await repository.list_featured_cases(conn, edition_id=current.edition_id) if current else []
    return Snapshot(taken_at=now.timestamp(), editions=editions, counters=counters,
                    overview=figures.overview(editions, counters, cases, today=today))


async def overview(conn: AsyncConnection, *, now: datetime) -> Overview:
    """Everything the live page shows, for the current edition."""
    return (await snapshot(conn, now=now)).overview


async def timeline(conn: AsyncConnection, *, span: domain.Span, edition_id: str | None) -> Timeline:
    buckets = await repository.load_timeline(conn, span=span.value, edition_id=edition_id)
    # Shown in conference time, as the buckets were cut.
    for bucket in buckets:
        bucket.start = bucket.start.astimezone(domain.CONFERENCE_TIME)
    return Timeline(edition_id=edition_id, span=span.value, time_zone="+08:00", buckets=buckets)
