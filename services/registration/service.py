"""Registration use cases; each is one transaction that writes its events to the outbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.registration import domain
from services.registration.models import delegates, editions
from services.registration.schemas import DelegateCreate, EditionCreate
from shared.events.registration import DelegateCancelled, DelegatePrevious, DelegateRegistered, EditionOpened
from shared.events.types import DelegateCategory, DelegateStatus, Host
from shared.outbox import UnitOfWork
from shared.pagination import keyset_page
from shared.stats import DelegateFigures


async def _last_edition(conn: AsyncConnection) -> Any:
    return (await conn.execute(select(editions).order_by(editions.c.number.desc()).limit(1))).first()


async def next_edition(conn: AsyncConnection) -> tuple[int, Host]:
    last = await _last_edition(conn)
    if last is None:
        return 1, domain.host_after(None)
    return last.number + 1, domain.host_after(Host(last.host))


async def open_edition(*, uow: UnitOfWork, request: EditionCreate) -> dict[str, Any]:
    domain.check_edition_dates(request.year, request.starts_on, request.ends_on)
    async with uow:
        number, rotation_host = await next_edition(uow.conn)
        row: dict[str, Any] = {
            "id": str(uuid.uuid4()), "number": number, "year": request.year,
            "host": (request.host or rotation_host).value, "city": request.city, "theme": request.theme,
            "starts_on": request.starts_on, "ends_on": request.ends_on, "created_at": datetime.now(UTC),
        }
        try:
            await uow.conn.execute(editions.insert().values(**row))
        except IntegrityError:
            raise domain.EditionNumberTaken("another edition was opened at the same moment; retry") from None
        uow.emit(EditionOpened(edition_id=row["id"], number=number, year=request.year, host=Host(row["host"]),
                               city=request.city, theme=request.theme, starts_on=request.starts_on,
                               ends_on=request.ends_on), subject=row["id"])
        await uow.commit()
    return row


async def get_edition(conn: AsyncConnection, edition_id: str) -> Any:
    row = (await conn.execute(select(editions).where(editions.c.id == edition_id))).first()
    if row is None:
        raise domain.EditionNotFound(f"no edition with id {edition_id}")
    return row


async def list_editions(conn: AsyncConnection) -> list[Any]:
    return list((await conn.execute(select(editions).order_by(editions.c.number))).all())


async def register_delegate(*, uow: UnitOfWork, request: DelegateCreate) -> dict[str, Any]:
    async with uow:
        exists = (await uow.conn.execute(select(editions.c.id).where(editions.c.id == request.edition_id))).first()
        if exists is None:
            raise domain.UnknownEdition(f"edition_id {request.edition_id} does not name an edition",
                                        field="edition_id")
        row: dict[str, Any] = {
            "id": str(uuid.uuid4()), "edition_id": request.edition_id, "full_name": request.full_name,
            "name_zh": request.name_zh, "country": request.country, "city": request.city,
            "organization": request.organization, "email": str(request.email),
            "email_normalized": domain.normalize_email(str(request.email)), "phone": request.phone,
            "category": request.category.value, "status": DelegateStatus.registered.value,
            "badge_code": domain.new_badge_code(), "registered_at": datetime.now(UTC),
        }
        try:
            await uow.conn.execute(delegates.insert().values(**row))
        except IntegrityError:
            raise domain.DuplicateEmail(
                f"{request.email} is already registered for this edition (e-mails are case-insensitive)",
                field="email") from None
        uow.emit(DelegateRegistered(delegate_id=row["id"], edition_id=row["edition_id"], country=row["country"],
                                    category=request.category, status=DelegateStatus.registered),
                 subject=row["id"])
        await uow.commit()
    return row


async def get_delegate(conn: AsyncConnection, delegate_id: str) -> Any:
    row = (await conn.execute(select(delegates).where(delegates.c.id == delegate_id))).first()
    if row is None:
        raise domain.DelegateNotFound(f"no delegate with id {delegate_id}")
    return row


async def list_delegates(conn: AsyncConnection, *, edition_id: str | None, country: str | None,
                         status: DelegateStatus | None, limit: int, cursor: str | None
                         ) -> tuple[list[Any], str | None]:
    query = select(delegates)
    if edition_id:
        query = query.where(delegates.c.edition_id == edition_id)
    if country:
        query = query.where(delegates.c.country == country)
    if status:
        query = query.where(delegates.c.status == status.value)
    rows, next_cursor = await keyset_page(conn, query, delegates.c.id, limit=limit, cursor=cursor)
    return rows, next_cursor


async def cancel_delegate(*, uow: UnitOfWork, delegate_id: str) -> DelegateStatus:
    async with uow:
        row = (await uow.conn.execute(
            select(delegates).where(delegates.c.id == delegate_id).with_for_update())).first()
        if row is None:
            raise domain.DelegateNotFound(f"no delegate with id {delegate_id}")
        previous = DelegateStatus(row.status)
        status = domain.cancel(previous)
        await uow.conn.execute(delegates.update().where(delegates.c.id == delegate_id).values(
            status=status.value, cancelled_at=datetime.now(UTC)))
        uow.emit(DelegateCancelled(
            delegate_id=row.id, edition_id=row.edition_id, country=row.country,
            category=DelegateCategory(row.category), status=status,
            previous=DelegatePrevious(country=row.country, category=DelegateCategory(row.category),
                                      status=previous)), subject=row.id)
        await uow.commit()
    return status


async def delegate_figures(conn: AsyncConnection, *, edition_id: str | None) -> DelegateFigures:
    active = delegates.c.status != DelegateStatus.cancelled.value
    query = select(
        func.count().filter(active),
        func.count().filter(delegates.c.status == DelegateStatus.checked_in.value),
        func.count(distinct(delegates.c.country)).filter(active),
    )
    if edition_id:
        query = query.where(delegates.c.edition_id == edition_id)
    registered, checked_in, countries = (await conn.execute(query)).one()
    return DelegateFigures(registered=registered, checked_in=checked_in, countries=countries)
