"""Network use cases; each is one transaction that writes its events to the outbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.network import domain
from services.network.models import organizations
from services.network.schemas import OrganizationCreate
from shared.events.network import OrganizationJoined, OrganizationLeft, OrganizationPrevious
from shared.events.types import OrganizationKind, OrganizationStatus
from shared.outbox import UnitOfWork
from shared.pagination import keyset_page
from shared.stats import NetworkFigures


async def join(*, uow: UnitOfWork, request: OrganizationCreate) -> dict[str, Any]:
    async with uow:
        row: dict[str, Any] = {
            "id": str(uuid.uuid4()), "name": request.name, "name_normalized": domain.normalize_name(request.name),
            "name_zh": request.name_zh, "country": request.country, "kind": request.kind.value,
            "city": request.city, "website": str(request.website) if request.website else None,
            "contact_email": str(request.contact_email) if request.contact_email else None,
            "status": OrganizationStatus.active.value, "joined_at": datetime.now(UTC),
        }
        try:
            await uow.conn.execute(organizations.insert().values(**row))
        except IntegrityError:
            raise domain.DuplicateOrganization(
                f"{request.name!r} is already a member in {request.country} (names are case-insensitive)",
                field="name") from None
        uow.emit(OrganizationJoined(organization_id=row["id"], name=request.name, country=request.country,
                                    kind=request.kind, status=OrganizationStatus.active), subject=row["id"])
        await uow.commit()
    return row


async def get_organization(conn: AsyncConnection, organization_id: str) -> Any:
    row = (await conn.execute(select(organizations).where(organizations.c.id == organization_id))).first()
    if row is None:
        raise domain.OrganizationNotFound(f"no organisation with id {organization_id}")
    return row


async def list_organizations(conn: AsyncConnection, *, country: str | None, kind: OrganizationKind | None,
                             status: OrganizationStatus | None, limit: int, cursor: str | None
                             ) -> tuple[list[Any], str | None]:
    query = select(organizations)
    if country:
        query = query.where(organizations.c.country == country)
    if kind:
        query = query.where(organizations.c.kind == kind.value)
    if status:
        query = query.where(organizations.c.status == status.value)
    rows, next_cursor = await keyset_page(conn, query, organizations.c.id, limit=limit, cursor=cursor)
    return rows, next_cursor


async def leave(*, uow: UnitOfWork, organization_id: str) -> OrganizationStatus:
    async with uow:
        row = (await uow.conn.execute(
            select(organizations).where(organizations.c.id == organization_id).with_for_update())).first()
        if row is None:
            raise domain.OrganizationNotFound(f"no organisation with id {organization_id}")
        previous = OrganizationStatus(row.status)
        status = domain.leave(previous)
        await uow.conn.execute(organizations.update().where(organizations.c.id == organization_id).values(
            status=status.value, left_at=datetime.now(UTC)))
        kind = OrganizationKind(row.kind)
        uow.emit(OrganizationLeft(
            organization_id=row.id, name=row.name, country=row.country, kind=kind, status=status,
            previous=OrganizationPrevious(country=row.country, kind=kind, status=previous)), subject=row.id)
        await uow.commit()
    return status


async def network_figures(conn: AsyncConnection) -> NetworkFigures:
    active = organizations.c.status == OrganizationStatus.active.value
    count, countries = (await conn.execute(
        select(func.count(), func.count(distinct(organizations.c.country))).where(active))).one()
    return NetworkFigures(organizations=count, countries=countries)
