"""Network use cases; each is one transaction that writes its events to the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.network import domain
from services.network.models import organization_projects, organizations
from services.network.schemas import OrganizationCreate, OrganizationUpdate
from shared.db.pagination import keyset_page
from shared.events.network import (
    OrganizationJoined,
    OrganizationLeft,
    OrganizationPrevious,
    OrganizationReinstated,
    OrganizationState,
    OrganizationSuspended,
    OrganizationUpdated,
)
from shared.events.types import OrganizationKind, OrganizationStatus, ProjectStatus
from shared.messaging.outbox import UnitOfWork
from shared.stats import NetworkFigures


def _duplicate(name: str, country: str) -> domain.DuplicateOrganization:
    return domain.DuplicateOrganization(
        f"{name!r} is already a member in {country} (names are case-insensitive)", field="name")


async def _check_name_free(conn: AsyncConnection, *, name: str, country: str, except_id: str | None) -> None:
    """A friendly 409 before writing; the partial unique index still decides between concurrent writes."""
    query = select(organizations.c.id).where(
        organizations.c.country == country, organizations.c.name_normalized == domain.normalize_name(name),
        organizations.c.status != OrganizationStatus.left.value)
    if except_id is not None:
        query = query.where(organizations.c.id != except_id)
    if (await conn.execute(query)).first() is not None:
        raise _duplicate(name, country)


async def join(*, uow: UnitOfWork, request: OrganizationCreate) -> dict[str, Any]:
    async with uow:
        await _check_name_free(uow.conn, name=request.name, country=request.country, except_id=None)
        row: dict[str, Any] = {
            "id": str(uuid.uuid4()), "name": request.name, "name_normalized": domain.normalize_name(request.name),
            "name_zh": request.name_zh, "country": request.country, "kind": request.kind.value,
            "city": request.city, "website": str(request.website) if request.website else None,
            "contact_email": str(request.contact_email) if request.contact_email else None,
            "status": OrganizationStatus.active.value, "joined_at": datetime.now(UTC),
        }
        try:
            await uow.conn.execute(organizations.insert(), row)
        except IntegrityError:
            raise _duplicate(request.name, request.country) from None
        uow.emit(OrganizationJoined(organization_id=row["id"], name=request.name, country=request.country,
                                    kind=request.kind, status=OrganizationStatus.active), subject=row["id"])
        await uow.commit()
    return row


async def get_organization(conn: AsyncConnection, organization_id: str) -> Any:
    row = (await conn.execute(select(organizations).where(organizations.c.id == organization_id))).first()
    if row is None:
        raise domain.OrganizationNotFound(f"no organisation with id {organization_id}")
    return row


async def signed_projects(conn: AsyncConnection, organization_id: str) -> tuple[list[dict[str, Any]], Decimal]:
    """The projects the member is a party to (as the projects topic told us) and their signed value."""
    rows = [dict(r._mapping) for r in (await conn.execute(
        select(organization_projects).where(organization_projects.c.organization_id == organization_id)
        .order_by(organization_projects.c.edition_id, organization_projects.c.project_id))).all()]
    total = domain.signed_amount((ProjectStatus(r["status"]), r["amount_cny"]) for r in rows)
    return rows, total


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


async def _locked(uow: UnitOfWork, organization_id: str) -> Any:
    row = (await uow.conn.execute(
        select(organizations).where(organizations.c.id == organization_id).with_for_update())).first()
    if row is None:
        raise domain.OrganizationNotFound(f"no organisation with id {organization_id}")
    return row


def _previous(row: Any) -> OrganizationPrevious:
    return OrganizationPrevious(country=row.country, kind=OrganizationKind(row.kind),
                                status=OrganizationStatus(row.status))


async def update(*, uow: UnitOfWork, organization_id: str, request: OrganizationUpdate) -> dict[str, Any]:
    """Change directory fields; `organization_updated` (old and new) when name, country or kind change."""
    async with uow:
        row = await _locked(uow, organization_id)
        domain.check_editable(OrganizationStatus(row.status))
        old = dict(row._mapping)
        changes: dict[str, Any] = {}
        for name in request.model_fields_set:
            value = getattr(request, name)
            if name == "kind":
                value = value.value
            elif name in ("website", "contact_email") and value is not None:
                value = str(value)
            changes[name] = value
        if "name" in changes:
            changes["name_normalized"] = domain.normalize_name(changes["name"])
        changed = {k: v for k, v in changes.items() if old[k] != v}
        if not changed:
            return old  # nothing changes: no write, no event
        new = {**old, **changed, "updated_at": datetime.now(UTC)}
        if {"name_normalized", "country"} & changed.keys():
            await _check_name_free(uow.conn, name=new["name"], country=new["country"], except_id=organization_id)
        try:
            await uow.conn.execute(organizations.update().where(organizations.c.id == organization_id).values(
                **changed, updated_at=new["updated_at"]))
        except IntegrityError:
            raise _duplicate(new["name"], new["country"]) from None
        # The event carries name, country and kind (no contact data): only a change to those is news.
        if {"name", "country", "kind"} & changed.keys():
            uow.emit(OrganizationUpdated(
                organization_id=organization_id, name=new["name"], country=new["country"],
                kind=OrganizationKind(new["kind"]), status=OrganizationStatus(new["status"]),
                previous=_previous(row)), subject=organization_id)
        await uow.commit()
    return new


async def _transition(*, uow: UnitOfWork, organization_id: str,
                      rule: Callable[[OrganizationStatus], OrganizationStatus],
                      event: type[OrganizationState]) -> OrganizationStatus:
    async with uow:
        row = await _locked(uow, organization_id)
        status = rule(OrganizationStatus(row.status))
        now = datetime.now(UTC)
        values: dict[str, Any] = {"status": status.value, "updated_at": now}
        if status == OrganizationStatus.left:
            values["left_at"] = now
        await uow.conn.execute(organizations.update().where(organizations.c.id == organization_id).values(**values))
        uow.emit(event.model_validate({
            "organization_id": row.id, "name": row.name, "country": row.country, "kind": row.kind,
            "status": status, "previous": _previous(row)}), subject=row.id)
        await uow.commit()
    return status


async def leave(*, uow: UnitOfWork, organization_id: str) -> OrganizationStatus:
    return await _transition(uow=uow, organization_id=organization_id, rule=domain.leave, event=OrganizationLeft)


async def suspend(*, uow: UnitOfWork, organization_id: str) -> OrganizationStatus:
    return await _transition(uow=uow, organization_id=organization_id, rule=domain.suspend,
                             event=OrganizationSuspended)


async def reinstate(*, uow: UnitOfWork, organization_id: str) -> OrganizationStatus:
    return await _transition(uow=uow, organization_id=organization_id, rule=domain.reinstate,
                             event=OrganizationReinstated)


async def network_figures(conn: AsyncConnection) -> NetworkFigures:
    active = organizations.c.status == OrganizationStatus.active.value
    count, countries = (await conn.execute(
        select(func.count(), func.count(distinct(organizations.c.country))).where(active))).one()
    return NetworkFigures(organizations=count, countries=countries)
