"""Applies the three topics to the read model: remember each entity's state, move the counters."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.dashboard import domain
from services.dashboard.models import (
    COUNTER_TABLES,
    editions,
    featured_cases,
    read_model_state,
    seen_delegates,
    seen_organizations,
    seen_projects,
)
from shared.app import Subscription
from shared.db import upsert_adding, upsert_replacing
from shared.events import CATALOGUE, CloudEvent
from shared.events.network import OrganizationState
from shared.events.projects import CaseFeatured, CaseUnfeatured, ProjectState
from shared.events.registration import DelegateState, EditionOpened
from shared.events.types import DelegateStatus, OrganizationStatus, ProjectStatus
from shared.inbox import Handler


async def apply_change(conn: AsyncConnection, delta: domain.Contribution) -> None:
    for table_name, rows in delta.items():
        table, keys, columns = COUNTER_TABLES[table_name]
        for key, moved in rows.items():
            values = dict(zip(keys, key, strict=True)) | {c: int(moved.get(c, 0)) for c in columns}
            await conn.execute(upsert_adding(conn, table, keys, values, columns))
    await _touch(conn)


async def edition_opened(conn: AsyncConnection, _: CloudEvent, payload: BaseModel) -> None:
    assert isinstance(payload, EditionOpened)
    await conn.execute(upsert_replacing(conn, editions, ["edition_id"], {
        "edition_id": payload.edition_id, "number": payload.number, "year": payload.year,
        "host": payload.host.value, "city": payload.city, "theme": payload.theme,
        "starts_on": payload.starts_on.isoformat()}))


async def delegate_changed(conn: AsyncConnection, _: CloudEvent, payload: BaseModel) -> None:
    assert isinstance(payload, DelegateState)
    row = (await conn.execute(select(seen_delegates).where(
        seen_delegates.c.delegate_id == payload.delegate_id))).first()
    old = domain.DelegateFacts(row.edition_id, row.country, DelegateStatus(row.status)) if row else None
    new = domain.DelegateFacts(payload.edition_id, payload.country, payload.status)
    await apply_change(conn, domain.change(domain.delegate_contribution(old), domain.delegate_contribution(new)))
    await conn.execute(upsert_replacing(conn, seen_delegates, ["delegate_id"], {
        "delegate_id": payload.delegate_id, "edition_id": new.edition_id, "country": new.country,
        "status": new.status.value}))


async def project_changed(conn: AsyncConnection, _: CloudEvent, payload: BaseModel) -> None:
    assert isinstance(payload, ProjectState)
    row = (await conn.execute(select(seen_projects).where(
        seen_projects.c.project_id == payload.project_id))).first()
    old = domain.ProjectFacts(
        row.edition_id, row.sector, ProjectStatus(row.status), Decimal(row.amount_fen) / 100,
        tuple(c for c in row.countries.split(",") if c)) if row else None
    new = domain.ProjectFacts(payload.edition_id, payload.sector.value, payload.status, payload.amount_cny,
                              tuple(sorted(set(payload.countries))))
    await apply_change(conn, domain.change(domain.project_contribution(old), domain.project_contribution(new)))
    await conn.execute(upsert_replacing(conn, seen_projects, ["project_id"], {
        "project_id": payload.project_id, "edition_id": new.edition_id, "sector": new.sector,
        "status": new.status.value, "amount_fen": int(new.amount_cny * 100),
        "countries": ",".join(new.countries)}))


async def organization_changed(conn: AsyncConnection, _: CloudEvent, payload: BaseModel) -> None:
    assert isinstance(payload, OrganizationState)
    row = (await conn.execute(select(seen_organizations).where(
        seen_organizations.c.organization_id == payload.organization_id))).first()
    old = domain.OrganizationFacts(row.country, OrganizationStatus(row.status)) if row else None
    new = domain.OrganizationFacts(payload.country, payload.status)
    await apply_change(conn, domain.change(domain.organization_contribution(old),
                                           domain.organization_contribution(new)))
    await conn.execute(upsert_replacing(conn, seen_organizations, ["organization_id"], {
        "organization_id": payload.organization_id, "country": new.country, "status": new.status.value}))


async def case_featured(conn: AsyncConnection, _: CloudEvent, payload: BaseModel) -> None:
    assert isinstance(payload, CaseFeatured)
    await conn.execute(upsert_replacing(conn, featured_cases, ["case_id"], {
        "case_id": payload.case_id, "edition_id": payload.edition_id, "rank": payload.rank,
        "title": payload.title, "sector": payload.sector.value, "enterprise": payload.enterprise,
        "country": payload.country}))
    await _touch(conn)


async def case_unfeatured(conn: AsyncConnection, _: CloudEvent, payload: BaseModel) -> None:
    assert isinstance(payload, CaseUnfeatured)
    await conn.execute(featured_cases.delete().where(featured_cases.c.case_id == payload.case_id))
    await _touch(conn)


async def _touch(conn: AsyncConnection) -> None:
    await conn.execute(upsert_replacing(conn, read_model_state, ["name"],
                                        {"name": "totals", "updated_at": datetime.now(UTC)}))


def _handlers() -> dict[str, Handler]:
    handlers: dict[str, Handler] = {
        "conference.registration.edition_opened.v1": edition_opened,
        "conference.projects.case_featured.v1": case_featured,
        "conference.projects.case_unfeatured.v1": case_unfeatured,
    }
    for event_type, definition in CATALOGUE.items():
        if issubclass(definition.model, DelegateState):
            handlers[event_type] = delegate_changed
        elif issubclass(definition.model, ProjectState):
            handlers[event_type] = project_changed
        elif issubclass(definition.model, OrganizationState):
            handlers[event_type] = organization_changed
    return handlers


SUBSCRIPTIONS = [
    Subscription(topics=["conference.registration", "conference.projects", "conference.network"],
                 handlers=_handlers()),
]
