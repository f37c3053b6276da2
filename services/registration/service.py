"""Registration use cases; each is one transaction that writes its events to the outbox.

Row locks, always taken in the same order so that no two use cases can deadlock: a delegate's row
first (``FOR UPDATE`` to change it, ``FOR SHARE`` to enrol it), then session rows in id order. A
session's row lock serialises every change to its enrolments, and the seat constraints of the
``enrollments`` table make overbooking impossible even for a use case that forgot the lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, distinct, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.registration import domain
from services.registration.domain import EnrollmentReason, EnrollmentState
from services.registration.models import delegates, editions, enrollments, sessions
from services.registration.schemas import (
    CheckInRequest,
    DelegateCreate,
    DelegateUpdate,
    EditionCreate,
    SessionCreate,
)
from shared.db.engine import is_foreign_key_violation
from shared.db.pagination import keyset_page
from shared.events.registration import (
    DelegateCancelled,
    DelegateCheckedIn,
    DelegatePrevious,
    DelegateRegistered,
    DelegateUpdated,
    EditionOpened,
    SessionEnrollmentChanged,
)
from shared.events.types import DelegateCategory, DelegateStatus, Host
from shared.messaging.outbox import UnitOfWork
from shared.stats import DelegateFigures

# -- editions -----------------------------------------------------------------------------------------------


async def _last_edition(conn: AsyncConnection) -> Any:
    return (await conn.execute(select(editions).order_by(editions.c.number.desc()).limit(1))).first()


async def next_edition(conn: AsyncConnection) -> tuple[int, Host, list[str]]:
    """Number, host and co-hosts an edition opened now would get when the request leaves them out."""
    last = await _last_edition(conn)
    if last is None:
        return 1, domain.host_after(None), domain.next_co_hosts(None)
    return last.number + 1, domain.host_after(Host(last.host)), domain.next_co_hosts(last.co_hosts)


async def open_edition(*, uow: UnitOfWork, request: EditionCreate) -> dict[str, Any]:
    domain.check_edition_dates(request.year, request.starts_on, request.ends_on)
    async with uow:
        number, rotation_host, previous_co_hosts = await next_edition(uow.conn)
        co_hosts = previous_co_hosts if request.co_hosts is None else domain.normalize_co_hosts(request.co_hosts)
        row: dict[str, Any] = {
            "id": str(uuid.uuid4()), "number": number, "year": request.year,
            "host": (request.host or rotation_host).value, "city": request.city, "theme": request.theme,
            "starts_on": request.starts_on, "ends_on": request.ends_on, "created_at": datetime.now(UTC),
            "co_hosts": co_hosts,
        }
        try:
            await uow.conn.execute(editions.insert(), row)
        except IntegrityError:
            raise domain.EditionNumberTaken("another edition was opened at the same moment; retry") from None
        uow.emit(EditionOpened(edition_id=row["id"], number=number, year=request.year, host=Host(row["host"]),
                               city=request.city, theme=request.theme, starts_on=request.starts_on,
                               ends_on=request.ends_on, co_hosts=co_hosts), subject=row["id"])
        await uow.commit()
    return row


async def get_edition(conn: AsyncConnection, edition_id: str) -> Any:
    row = (await conn.execute(select(editions).where(editions.c.id == edition_id))).first()
    if row is None:
        raise domain.EditionNotFound(f"no edition with id {edition_id}")
    return row


async def list_editions(conn: AsyncConnection) -> list[Any]:
    return list((await conn.execute(select(editions).order_by(editions.c.number))).all())


async def _edition_for_write(conn: AsyncConnection, edition_id: str) -> Any:
    row = (await conn.execute(select(editions).where(editions.c.id == edition_id))).first()
    if row is None:
        raise domain.UnknownEdition(f"edition_id {edition_id} does not name an edition", field="edition_id")
    return row


# -- delegates ----------------------------------------------------------------------------------------------


def _previous(row: Any) -> DelegatePrevious:
    return DelegatePrevious(country=row.country, category=DelegateCategory(row.category),
                            status=DelegateStatus(row.status))


async def register_delegate(*, uow: UnitOfWork, request: DelegateCreate) -> dict[str, Any]:
    async with uow:
        # The edition is checked by the foreign key (one round trip fewer on the busiest write).
        row: dict[str, Any] = {
            "id": str(uuid.uuid4()), "edition_id": request.edition_id, "full_name": request.full_name,
            "name_zh": request.name_zh, "country": request.country, "city": request.city,
            "organization": request.organization, "email": str(request.email),
            "email_normalized": domain.normalize_email(str(request.email)), "phone": request.phone,
            "category": request.category.value, "status": DelegateStatus.registered.value,
            "badge_code": domain.new_badge_code(), "registered_at": datetime.now(UTC),
            "checked_in_at": None, "cancelled_at": None,
        }
        try:
            await uow.conn.execute(delegates.insert(), row)
        except IntegrityError as exc:
            if is_foreign_key_violation(exc):
                raise domain.UnknownEdition(f"edition_id {request.edition_id} does not name an edition",
                                            field="edition_id") from None
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
                         status: DelegateStatus | None, limit: int, cursor: str | None,
                         category: DelegateCategory | None = None) -> tuple[list[Any], str | None]:
    query = select(delegates)
    if edition_id:
        query = query.where(delegates.c.edition_id == edition_id)
    if country:
        query = query.where(delegates.c.country == country)
    if status:
        query = query.where(delegates.c.status == status.value)
    if category:
        query = query.where(delegates.c.category == category.value)
    rows, next_cursor = await keyset_page(conn, query, delegates.c.id, limit=limit, cursor=cursor)
    return rows, next_cursor


async def export_delegates(conn: AsyncConnection, *, edition_id: str) -> tuple[Any, list[Any]]:
    """The edition and all its delegates in registration order, for the secretariat's spreadsheet."""
    edition = await get_edition(conn, edition_id)
    rows = (await conn.execute(select(delegates).where(delegates.c.edition_id == edition_id)
                               .order_by(delegates.c.registered_at, delegates.c.id))).all()
    return edition, list(rows)


async def _lock_delegate(conn: AsyncConnection, delegate_id: str) -> Any:
    row = (await conn.execute(select(delegates).where(delegates.c.id == delegate_id).with_for_update())).first()
    if row is None:
        raise domain.DelegateNotFound(f"no delegate with id {delegate_id}")
    return row


async def update_delegate(*, uow: UnitOfWork, delegate_id: str, request: DelegateUpdate) -> Any:
    changes = request.changes()
    async with uow:
        row = await _lock_delegate(uow.conn, delegate_id)
        domain.check_changeable(DelegateStatus(row.status), row.cancelled_at)
        values: dict[str, Any] = {k: (v.value if isinstance(v, DelegateCategory) else v) for k, v in changes.items()}
        if "email" in values:
            values["email"] = str(values["email"])
            values["email_normalized"] = domain.normalize_email(values["email"])
        values = {k: v for k, v in values.items() if getattr(row, k) != v}
        if values:
            try:
                await uow.conn.execute(delegates.update().where(delegates.c.id == delegate_id).values(**values))
            except IntegrityError:
                raise domain.DuplicateEmail(
                    f"{changes['email']} is already registered for this edition (e-mails are case-insensitive)",
                    field="email") from None
        after = {**row._mapping, **values}
        before_state = domain.CountableState(row.country, DelegateCategory(row.category), DelegateStatus(row.status))
        after_state = domain.CountableState(after["country"], DelegateCategory(after["category"]),
                                            DelegateStatus(after["status"]))
        # Only what consumers count travels in events; a corrected city or phone stays here.
        if domain.countable_change(before_state, after_state):
            uow.emit(DelegateUpdated(delegate_id=row.id, edition_id=row.edition_id, country=after_state.country,
                                     category=after_state.category, status=after_state.status,
                                     previous=_previous(row)), subject=row.id)
        updated = await get_delegate(uow.conn, delegate_id) if values else row
        await uow.commit()
    return updated


async def cancel_delegate(*, uow: UnitOfWork, delegate_id: str) -> DelegateStatus:
    """Cancels the registration and gives up the delegate's places: each freed seat goes to the
    first wait-listed delegate of that session, in the same transaction."""
    async with uow:
        row = await _lock_delegate(uow.conn, delegate_id)
        previous = DelegateStatus(row.status)
        status = domain.cancel(previous)
        # Once the delegate row is locked no new enrolment of theirs can appear (enrolling takes a
        # share lock on it), so this list of sessions is complete.
        session_ids = (await uow.conn.execute(select(enrollments.c.session_id).distinct().where(
            enrollments.c.delegate_id == delegate_id))).scalars().all()
        for session_id in sorted(session_ids):
            session = await _lock_session(uow.conn, session_id)
            await _leave_session(uow, session, delegate_id, reason=EnrollmentReason.delegate_cancelled)
        await uow.conn.execute(delegates.update().where(delegates.c.id == delegate_id).values(
            status=status.value, cancelled_at=datetime.now(UTC)))
        uow.emit(DelegateCancelled(
            delegate_id=row.id, edition_id=row.edition_id, country=row.country,
            category=DelegateCategory(row.category), status=status, previous=_previous(row)), subject=row.id)
        await uow.commit()
    return status


async def check_in(*, uow: UnitOfWork, request: CheckInRequest) -> dict[str, Any]:
    async with uow:
        row = (await uow.conn.execute(select(delegates).where(delegates.c.badge_code == request.badge_code)
                                      .with_for_update())).first()
        if row is None:
            raise domain.BadgeNotFound("no delegate holds this badge code; check that the whole QR code was "
                                       "scanned, or send the delegate to the registration desk", field="badge_code")
        domain.check_badge_edition(row.edition_id, request.edition_id)
        status = domain.check_in(DelegateStatus(row.status), checked_in_at=row.checked_in_at,
                                 cancelled_at=row.cancelled_at)
        now = datetime.now(UTC)
        await uow.conn.execute(delegates.update().where(delegates.c.id == row.id).values(
            status=status.value, checked_in_at=now))
        uow.emit(DelegateCheckedIn(delegate_id=row.id, edition_id=row.edition_id, country=row.country,
                                   category=DelegateCategory(row.category), status=status,
                                   previous=_previous(row), checked_in_at=now), subject=row.id)
        await uow.commit()
    return {**row._mapping, "status": status, "checked_in_at": now, "delegate_id": row.id}


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


# -- sessions and enrolments --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    enrolled: int
    waitlisted: int


async def create_session(*, uow: UnitOfWork, request: SessionCreate) -> dict[str, Any]:
    async with uow:
        edition = await _edition_for_write(uow.conn, request.edition_id)
        domain.check_session_start(request.starts_at, edition.starts_on, edition.ends_on)
        row: dict[str, Any] = {
            "id": str(uuid.uuid4()), "edition_id": request.edition_id, "kind": request.kind.value,
            "title": request.title, "capacity": request.capacity, "starts_at": request.starts_at.astimezone(UTC),
            "created_at": datetime.now(UTC),
        }
        await uow.conn.execute(sessions.insert(), row)
        await uow.commit()
    return {**row, "enrolled": 0, "waitlisted": 0, "available": request.capacity}


async def _counts(conn: AsyncConnection, session_ids: Sequence[str]) -> dict[str, Counts]:
    rows = (await conn.execute(
        select(enrollments.c.session_id, enrollments.c.state, func.count())
        .where(enrollments.c.session_id.in_(session_ids))
        .group_by(enrollments.c.session_id, enrollments.c.state))).all()
    found: dict[str, dict[str, int]] = {}
    for session_id, state, n in rows:
        found.setdefault(session_id, {})[state] = n
    return {s: Counts(found.get(s, {}).get(EnrollmentState.enrolled.value, 0),
                      found.get(s, {}).get(EnrollmentState.waitlisted.value, 0)) for s in session_ids}


def _with_counts(row: Any, counts: Counts) -> dict[str, Any]:
    return {**row._mapping, "enrolled": counts.enrolled, "waitlisted": counts.waitlisted,
            "available": row.capacity - counts.enrolled}


async def get_session(conn: AsyncConnection, session_id: str) -> dict[str, Any]:
    row = (await conn.execute(select(sessions).where(sessions.c.id == session_id))).first()
    if row is None:
        raise domain.SessionNotFound(f"no session with id {session_id}")
    return _with_counts(row, (await _counts(conn, [session_id]))[session_id])


async def list_sessions(conn: AsyncConnection, *, edition_id: str | None, kind: domain.SessionKind | None,
                        limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    query = select(sessions)
    if edition_id:
        query = query.where(sessions.c.edition_id == edition_id)
    if kind:
        query = query.where(sessions.c.kind == kind.value)
    rows, next_cursor = await keyset_page(conn, query, sessions.c.id, limit=limit, cursor=cursor)
    counts = await _counts(conn, [r.id for r in rows]) if rows else {}
    return [_with_counts(r, counts[r.id]) for r in rows], next_cursor


async def list_enrollments(conn: AsyncConnection, *, session_id: str) -> list[dict[str, Any]]:
    """Enrolled delegates by seat, then the wait-list in order."""
    session = await get_session(conn, session_id)
    rows = (await conn.execute(select(enrollments).where(enrollments.c.session_id == session_id)
                               .order_by(enrollments.c.state, enrollments.c.seat, enrollments.c.id))).all()
    position = 0
    items = []
    for r in rows:
        waiting = r.state == EnrollmentState.waitlisted.value
        position += waiting
        items.append({**r._mapping, "position": position if waiting else None, "enrolled": session["enrolled"],
                      "waitlisted": session["waitlisted"], "capacity": session["capacity"]})
    return items


async def _lock_session(conn: AsyncConnection, session_id: str) -> Any:
    row = (await conn.execute(select(sessions).where(sessions.c.id == session_id).with_for_update())).first()
    if row is None:
        raise domain.SessionNotFound(f"no session with id {session_id}")
    return row


def _enrollment_event(session: Any, delegate_id: str, state: EnrollmentState, counts: Counts, *,
                      previous: str | None, reason: EnrollmentReason) -> SessionEnrollmentChanged:
    return SessionEnrollmentChanged(
        session_id=session.id, edition_id=session.edition_id, delegate_id=delegate_id, state=state.value,
        enrolled=counts.enrolled, waitlisted=counts.waitlisted, capacity=session.capacity,
        previous_state=previous, reason=reason.value, kind=session.kind)


async def enroll(*, uow: UnitOfWork, session_id: str, delegate_id: str) -> tuple[dict[str, Any], bool]:
    """Enrols the delegate, or wait-lists them when the session is full. Asking again returns the
    enrolment as it stands (``False``: nothing changed)."""
    async with uow:
        conn = uow.conn
        # Share lock: a concurrent cancellation of this delegate waits for us (and then frees the place).
        delegate = (await conn.execute(select(delegates).where(delegates.c.id == delegate_id)
                                       .with_for_update(read=True))).first()
        session = await _lock_session(conn, session_id)
        if delegate is None:
            raise domain.UnknownDelegate(f"delegate_id {delegate_id} does not name a delegate", field="delegate_id")
        domain.check_enrollable(delegate_status=DelegateStatus(delegate.status),
                                delegate_edition=delegate.edition_id, session_edition=session.edition_id)
        existing = (await conn.execute(select(enrollments).where(
            enrollments.c.session_id == session_id, enrollments.c.delegate_id == delegate_id))).first()
        if existing is not None:
            return await _enrollment_answer(conn, session, existing), False
        seats = set((await conn.execute(select(enrollments.c.seat).where(
            enrollments.c.session_id == session_id,
            enrollments.c.state == EnrollmentState.enrolled.value))).scalars().all())
        waiting = (await conn.execute(select(func.count()).where(
            enrollments.c.session_id == session_id,
            enrollments.c.state == EnrollmentState.waitlisted.value))).scalar_one()
        seat = domain.place_for_newcomer(capacity=session.capacity, taken_seats=seats, waiting=waiting)
        now = datetime.now(UTC)
        state = EnrollmentState.waitlisted if seat is None else EnrollmentState.enrolled
        await conn.execute(enrollments.insert().values(
            session_id=session_id, session_capacity=session.capacity, delegate_id=delegate_id, state=state.value,
            seat=seat, requested_at=now, enrolled_at=None if seat is None else now))
        counts = Counts(len(seats) + (seat is not None), waiting + (seat is None))
        uow.emit(_enrollment_event(session, delegate_id, state, counts, previous=None,
                                   reason=EnrollmentReason.requested), subject=session_id)
        await uow.commit()
    return {"session_id": session_id, "delegate_id": delegate_id, "state": state,
            "position": waiting + 1 if seat is None else None, "requested_at": now,
            "enrolled_at": None if seat is None else now, "enrolled": counts.enrolled,
            "waitlisted": counts.waitlisted, "capacity": session.capacity}, True


async def _enrollment_answer(conn: AsyncConnection, session: Any, row: Any) -> dict[str, Any]:
    counts = (await _counts(conn, [session.id]))[session.id]
    position = None
    if row.state == EnrollmentState.waitlisted.value:
        position = (await conn.execute(select(func.count()).where(
            enrollments.c.session_id == session.id, enrollments.c.state == EnrollmentState.waitlisted.value,
            enrollments.c.id <= row.id))).scalar_one()
    return {"session_id": session.id, "delegate_id": row.delegate_id, "state": EnrollmentState(row.state),
            "position": position, "requested_at": row.requested_at, "enrolled_at": row.enrolled_at,
            "enrolled": counts.enrolled, "waitlisted": counts.waitlisted, "capacity": session.capacity}


async def withdraw(*, uow: UnitOfWork, session_id: str, delegate_id: str) -> dict[str, Any]:
    async with uow:
        session = await _lock_session(uow.conn, session_id)
        outcome = await _leave_session(uow, session, delegate_id, reason=EnrollmentReason.withdrawn)
        if outcome is None:
            raise domain.EnrollmentNotFound(f"delegate {delegate_id} is neither enrolled in nor wait-listed for "
                                            f"session {session_id}")
        await uow.commit()
    return outcome


async def _leave_session(uow: UnitOfWork, session: Any, delegate_id: str, *, reason: EnrollmentReason
                         ) -> dict[str, Any] | None:
    """Removes the delegate from a session whose row the caller has locked; a freed seat goes to the
    first delegate on the wait-list (FIFO: lowest id). None when the delegate held nothing there."""
    conn = uow.conn
    row = (await conn.execute(select(enrollments).where(
        enrollments.c.session_id == session.id, enrollments.c.delegate_id == delegate_id))).first()
    if row is None:
        return None
    await conn.execute(delete(enrollments).where(enrollments.c.id == row.id))
    counts = (await _counts(conn, [session.id]))[session.id]
    uow.emit(_enrollment_event(session, delegate_id, EnrollmentState.withdrawn, counts, previous=row.state,
                               reason=reason), subject=session.id)
    promoted: str | None = None
    if row.state == EnrollmentState.enrolled.value:
        first = (await conn.execute(select(enrollments).where(
            enrollments.c.session_id == session.id, enrollments.c.state == EnrollmentState.waitlisted.value)
            .order_by(enrollments.c.id).limit(1))).first()
        if first is not None:
            await conn.execute(enrollments.update().where(enrollments.c.id == first.id).values(
                state=EnrollmentState.enrolled.value, seat=row.seat, enrolled_at=datetime.now(UTC)))
            promoted = first.delegate_id
            counts = Counts(counts.enrolled + 1, counts.waitlisted - 1)
            uow.emit(_enrollment_event(session, first.delegate_id, EnrollmentState.enrolled, counts,
                                       previous=EnrollmentState.waitlisted.value, reason=EnrollmentReason.promoted),
                     subject=session.id)
    return {"session_id": session.id, "delegate_id": delegate_id, "state": EnrollmentState.withdrawn,
            "previous_state": EnrollmentState(row.state), "promoted_delegate_id": promoted,
            "enrolled": counts.enrolled, "waitlisted": counts.waitlisted, "capacity": session.capacity}
