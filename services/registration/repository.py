"""Persistence of registration: the repositories the use cases need, their SQL implementation, and the
service's unit of work.

Row locks, always taken in the same order so that no two use cases can deadlock: a delegate's row
first (``FOR UPDATE`` to change it, ``FOR SHARE`` to enrol it), then session rows in id order. A
session's row lock serialises every change to its enrolments, and the seat constraints of the
``enrollments`` table make overbooking impossible even for a use case that forgot the lock.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Protocol, Self

from sqlalchemy import Row, Table, delete, distinct, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.registration import domain
from services.registration.domain import (
    Counts,
    Delegate,
    Edition,
    Enrollment,
    EnrollmentState,
    Invitation,
    Scan,
    ScanOutcome,
    ScanResult,
    Session,
    SessionKind,
)
from services.registration.models import delegates, editions, enrollments, invitations, platform, scans, sessions
from shared.db.engine import is_foreign_key_violation
from shared.db.pagination import keyset_page
from shared.db.records import get_or_raise
from shared.events.types import DelegateCategory, DelegateStatus, Host
from shared.messaging.outbox import UnitOfWork, UnitOfWorkPort
from shared.stats import REGISTERED_STATUSES, DelegateFigures


class InsertWithEvents(Protocol):
    """UnitOfWork.insert_with_events: a row of the state inserted with the events emitted so far."""

    async def __call__(self, table: Table, row: dict[str, Any], *, last_write: bool = False) -> None: ...


# -- row -> record, one mapper per aggregate ---------------------------------------------------------------


def edition_from_row(row: Row[Any]) -> Edition:
    return Edition(id=row.id, number=row.number, year=row.year, host=Host(row.host), city=row.city,
                   theme=row.theme, starts_on=row.starts_on, ends_on=row.ends_on, created_at=row.created_at,
                   co_hosts=tuple(row.co_hosts))


def delegate_from_row(row: Row[Any]) -> Delegate:
    return Delegate(id=row.id, edition_id=row.edition_id, full_name=row.full_name, name_zh=row.name_zh,
                    country=row.country, city=row.city, organization=row.organization, email=row.email,
                    phone=row.phone, category=DelegateCategory(row.category), status=DelegateStatus(row.status),
                    badge_code=row.badge_code, registered_at=row.registered_at, checked_in_at=row.checked_in_at,
                    cancelled_at=row.cancelled_at, listed_publicly=bool(row.listed_publicly),
                    invitation_id=row.invitation_id, decided_at=row.decided_at, rejection_reason=row.rejection_reason,
                    erased_at=row.erased_at)


def invitation_from_row(row: Row[Any]) -> Invitation:
    return Invitation(id=row.id, edition_id=row.edition_id, code=row.code, label=row.label, seats=row.seats,
                      used=row.used, expires_at=row.expires_at, country=row.country, organization=row.organization,
                      category=DelegateCategory(row.category), created_at=row.created_at)


def session_from_row(row: Row[Any]) -> Session:
    return Session(id=row.id, edition_id=row.edition_id, kind=SessionKind(row.kind), title=row.title,
                   capacity=row.capacity, starts_at=row.starts_at, created_at=row.created_at)


def enrollment_from_row(row: Row[Any]) -> Enrollment:
    return Enrollment(session_id=row.session_id, delegate_id=row.delegate_id, state=EnrollmentState(row.state),
                      seat=row.seat, requested_at=row.requested_at, enrolled_at=row.enrolled_at)


def _delegate_columns(delegate: Delegate) -> dict[str, Any]:
    return {
        "id": delegate.id, "edition_id": delegate.edition_id, "full_name": delegate.full_name,
        "name_zh": delegate.name_zh, "country": delegate.country, "city": delegate.city,
        "organization": delegate.organization, "email": delegate.email,
        "email_normalized": domain.normalize_email(delegate.email), "phone": delegate.phone,
        "category": delegate.category.value, "status": delegate.status.value, "badge_code": delegate.badge_code,
        "registered_at": delegate.registered_at, "checked_in_at": delegate.checked_in_at,
        "cancelled_at": delegate.cancelled_at, "listed_publicly": delegate.listed_publicly,
        "invitation_id": delegate.invitation_id, "decided_at": delegate.decided_at,
        "rejection_reason": delegate.rejection_reason, "erased_at": delegate.erased_at,
    }


def _duplicate_email(delegate: Delegate) -> domain.DuplicateEmail:
    return domain.DuplicateEmail(
        f"{delegate.email} is already registered for this edition (e-mails are case-insensitive)", field="email")


# -- ports: what the use cases need -------------------------------------------------------------------------


class EditionRepository(Protocol):
    async def last(self) -> Edition | None: ...

    async def get_referenced(self, edition_id: str) -> Edition:
        """The edition a request names (``unknown_edition`` when there is none)."""
        ...

    async def add(self, edition: Edition) -> None: ...


class DelegateRepository(Protocol):
    async def lock(self, delegate_id: str) -> Delegate:
        """The delegate, locked to be changed (``FOR UPDATE``)."""
        ...

    async def lock_to_enroll(self, delegate_id: str) -> Delegate | None:
        """The delegate, kept from changing (``FOR SHARE``), or None."""
        ...

    async def lock_by_badge(self, badge_code: str) -> Delegate: ...

    async def lock_expired(self, *, ended_before: date, limit: int) -> list[Delegate]:
        """Delegates not yet erased of editions that ended before ``ended_before``, locked (retention)."""
        ...

    async def erase_traces(self, delegate_id: str) -> None:
        """Replace what other tables keep of the delegate's personal data: stored idempotent answers, scans."""
        ...

    async def lock_by_badges(self, badge_codes: Sequence[str]) -> dict[str, Delegate]:
        """The delegates holding these badge codes, by code, locked in id order (no deadlock between devices)."""
        ...

    async def add(self, delegate: Delegate, *, last_write: bool = False) -> None:
        """``last_write``: the unit of work writes nothing else, so the row and its event may commit as one
        statement."""
        ...

    async def save(self, delegate: Delegate, *, was: Delegate) -> None:
        """Writes what differs from ``was`` (the delegate as loaded), nothing when nothing does."""
        ...


class InvitationRepository(Protocol):
    async def add(self, invitation: Invitation) -> None: ...

    async def take_seat(self, code: str, *, now: datetime) -> Invitation | None:
        """The invitation with one more seat used, or None when the code names none, it expired or it is full."""
        ...

    async def find(self, code: str) -> Invitation | None: ...

    async def give_back_seat(self, invitation_id: str) -> None: ...


class ScanRepository(Protocol):
    async def known(self, nonces: Sequence[str]) -> dict[str, ScanOutcome]: ...

    async def add(self, device_id: str, scans: Sequence[Scan], outcomes: dict[str, ScanOutcome], *,
                  now: datetime) -> None: ...


class SessionRepository(Protocol):
    async def lock(self, session_id: str) -> Session: ...

    async def add(self, session: Session) -> None: ...


class EnrollmentRepository(Protocol):
    async def find(self, session_id: str, delegate_id: str) -> Enrollment | None: ...

    async def taken_seats(self, session_id: str) -> set[int]: ...

    async def waiting(self, session_id: str) -> int: ...

    async def position(self, enrollment: Enrollment) -> int:
        """Place of a wait-listed enrolment in its session's queue (1 = next)."""
        ...

    async def counts(self, session_ids: Sequence[str]) -> dict[str, Counts]: ...

    async def first_waiting(self, session_id: str) -> Enrollment | None: ...

    async def sessions_of(self, delegate_id: str) -> list[str]: ...

    async def add(self, enrollment: Enrollment, *, session: Session) -> None: ...

    async def save(self, enrollment: Enrollment) -> None: ...

    async def remove(self, enrollment: Enrollment) -> None: ...


class RegistrationUnitOfWork(UnitOfWorkPort, Protocol):
    @property
    def editions(self) -> EditionRepository: ...

    @property
    def delegates(self) -> DelegateRepository: ...

    @property
    def invitations(self) -> InvitationRepository: ...

    @property
    def scans(self) -> ScanRepository: ...

    @property
    def sessions(self) -> SessionRepository: ...

    @property
    def enrollments(self) -> EnrollmentRepository: ...


# -- SQL implementations ------------------------------------------------------------------------------------


class SqlEditions:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def last(self) -> Edition | None:
        row = (await self.conn.execute(select(editions).order_by(editions.c.number.desc()).limit(1))).first()
        return None if row is None else edition_from_row(row)

    async def get(self, edition_id: str) -> Edition:
        return await get_or_raise(self.conn, editions, edition_id, to_record=edition_from_row,
                                  missing=domain.EditionNotFound(f"no edition with id {edition_id}"))

    async def get_referenced(self, edition_id: str) -> Edition:
        return await get_or_raise(self.conn, editions, edition_id, to_record=edition_from_row,
                                  missing=domain.UnknownEdition(f"edition_id {edition_id} does not name an edition",
                                                                field="edition_id"))

    async def all(self) -> list[Edition]:
        return [edition_from_row(r) for r in await self.conn.execute(select(editions).order_by(editions.c.number))]

    async def add(self, edition: Edition) -> None:
        try:
            await self.conn.execute(editions.insert(), {
                "id": edition.id, "number": edition.number, "year": edition.year, "host": edition.host.value,
                "city": edition.city, "theme": edition.theme, "starts_on": edition.starts_on,
                "ends_on": edition.ends_on, "created_at": edition.created_at, "co_hosts": list(edition.co_hosts)})
        except IntegrityError:
            raise domain.EditionNumberTaken("another edition was opened at the same moment; retry") from None


class SqlDelegates:
    def __init__(self, conn: AsyncConnection, *, insert_with_events: InsertWithEvents | None = None) -> None:
        self.conn = conn
        # In a unit of work, a new delegate's row and the events emitted so far go in one round trip.
        self._insert = insert_with_events or self._execute

    async def _execute(self, table: Table, row: dict[str, Any], *, last_write: bool = False) -> None:
        await self.conn.execute(table.insert(), row)

    async def get(self, delegate_id: str) -> Delegate:
        return await get_or_raise(self.conn, delegates, delegate_id, to_record=delegate_from_row,
                                  missing=domain.DelegateNotFound(f"no delegate with id {delegate_id}"))

    async def lock(self, delegate_id: str) -> Delegate:
        return await get_or_raise(self.conn, delegates, delegate_id, to_record=delegate_from_row, lock="update",
                                  missing=domain.DelegateNotFound(f"no delegate with id {delegate_id}"))

    async def lock_to_enroll(self, delegate_id: str) -> Delegate | None:
        # Share lock: a concurrent cancellation of this delegate waits for us (and then frees the place).
        row = (await self.conn.execute(select(delegates).where(delegates.c.id == delegate_id)
                                       .with_for_update(read=True))).first()
        return None if row is None else delegate_from_row(row)

    async def lock_by_badge(self, badge_code: str) -> Delegate:
        return await get_or_raise(
            self.conn, delegates, badge_code, column="badge_code", to_record=delegate_from_row, lock="update",
            missing=domain.BadgeNotFound("no delegate holds this badge code; check that the whole QR code was "
                                         "scanned, or send the delegate to the registration desk",
                                         field="badge_code"))

    async def lock_expired(self, *, ended_before: date, limit: int) -> list[Delegate]:
        ended = select(editions.c.id).where(editions.c.ends_on < ended_before)
        rows = await self.conn.execute(select(delegates).where(delegates.c.erased_at.is_(None),
                                                               delegates.c.edition_id.in_(ended))
                                       .order_by(delegates.c.id).limit(limit).with_for_update())
        return [delegate_from_row(r) for r in rows]

    async def erase_traces(self, delegate_id: str) -> None:
        # An answer stored for an Idempotency-Key names the delegate (a retry then gets the tombstone); a
        # uuid in a JSON body is not found by chance in another answer.
        keys = platform.idempotency_keys
        await self.conn.execute(update(keys).where(keys.c.response_body.contains(delegate_id)).values(
            response_body=json.dumps({"id": delegate_id, "erased": True}), response_headers=None))
        await self.conn.execute(update(scans).where(scans.c.delegate_id == delegate_id)
                                .values(badge_code=f"erased-{delegate_id}"))

    async def lock_by_badges(self, badge_codes: Sequence[str]) -> dict[str, Delegate]:
        rows = await self.conn.execute(select(delegates).where(delegates.c.badge_code.in_(sorted(set(badge_codes))))
                                       .order_by(delegates.c.id).with_for_update())
        return {r.badge_code: delegate_from_row(r) for r in rows}

    async def add(self, delegate: Delegate, *, last_write: bool = False) -> None:
        # The edition is checked by the foreign key (one round trip fewer on the busiest write).
        try:
            await self._insert(delegates, _delegate_columns(delegate), last_write=last_write)
        except IntegrityError as exc:
            if is_foreign_key_violation(exc):
                raise domain.UnknownEdition(f"edition_id {delegate.edition_id} does not name an edition",
                                            field="edition_id") from None
            raise _duplicate_email(delegate) from None

    async def save(self, delegate: Delegate, *, was: Delegate) -> None:
        before = _delegate_columns(was)
        values = {k: v for k, v in _delegate_columns(delegate).items() if before[k] != v}
        if not values:
            return
        try:
            await self.conn.execute(delegates.update().where(delegates.c.id == delegate.id).values(**values))
        except IntegrityError:  # the only unique column a change can hit: the e-mail within the edition
            raise _duplicate_email(delegate) from None

    async def page(self, *, edition_id: str | None, country: str | None, status: DelegateStatus | None,
                   category: DelegateCategory | None, limit: int, cursor: str | None, listed_only: bool = False
                   ) -> tuple[list[Delegate], str | None]:
        """A page of delegates; with ``listed_only``, of those who consented to the public list."""
        query = select(delegates)
        if listed_only:  # domain.visible_to_anonymous, as SQL
            query = query.where(delegates.c.listed_publicly,
                                delegates.c.status.not_in([s.value for s in domain.NOT_APPROVED]))
        if edition_id:
            query = query.where(delegates.c.edition_id == edition_id)
        if country:
            query = query.where(delegates.c.country == country)
        if status:
            query = query.where(delegates.c.status == status.value)
        if category:
            query = query.where(delegates.c.category == category.value)
        rows, next_cursor = await keyset_page(self.conn, query, delegates.c.id, limit=limit, cursor=cursor)
        return [delegate_from_row(r) for r in rows], next_cursor

    async def of_edition(self, edition_id: str) -> list[Delegate]:
        """All delegates of the edition in registration order."""
        rows = await self.conn.execute(select(delegates).where(delegates.c.edition_id == edition_id)
                                       .order_by(delegates.c.registered_at, delegates.c.id))
        return [delegate_from_row(r) for r in rows]

    async def figures(self, *, edition_id: str | None) -> DelegateFigures:
        active = delegates.c.status.in_([s.value for s in REGISTERED_STATUSES])
        query = select(
            func.count().filter(active),
            func.count().filter(delegates.c.status == DelegateStatus.checked_in.value),
            func.count(distinct(delegates.c.country)).filter(active),
            func.count().filter(delegates.c.status == DelegateStatus.pending.value),
        )
        if edition_id:
            query = query.where(delegates.c.edition_id == edition_id)
        registered, checked_in, countries, pending = (await self.conn.execute(query)).one()
        return DelegateFigures(registered=registered, checked_in=checked_in, countries=countries, pending=pending)


class SqlScans:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def known(self, nonces: Sequence[str]) -> dict[str, ScanOutcome]:
        rows = await self.conn.execute(select(scans).where(scans.c.nonce.in_(list(nonces))))
        return {r.nonce: ScanOutcome(r.nonce, ScanResult(r.result), r.delegate_id, r.checked_in_at) for r in rows}

    async def add(self, device_id: str, new: Sequence[Scan], outcomes: dict[str, ScanOutcome], *,
                  now: datetime) -> None:
        if new:
            await self.conn.execute(scans.insert(), [
                {"nonce": s.nonce, "device_id": device_id, "badge_code": s.badge_code, "scanned_at": s.scanned_at,
                 "received_at": now, "result": outcomes[s.nonce].result.value,
                 "delegate_id": outcomes[s.nonce].delegate_id, "checked_in_at": outcomes[s.nonce].checked_in_at}
                for s in new])


class SqlInvitations:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, invitation: Invitation) -> None:
        try:
            await self.conn.execute(invitations.insert(), {
                "id": invitation.id, "edition_id": invitation.edition_id, "code": invitation.code,
                "label": invitation.label, "seats": invitation.seats, "used": invitation.used,
                "expires_at": invitation.expires_at, "country": invitation.country,
                "organization": invitation.organization, "category": invitation.category.value,
                "created_at": invitation.created_at})
        except IntegrityError as exc:
            if is_foreign_key_violation(exc):
                raise domain.UnknownEdition(f"edition_id {invitation.edition_id} does not name an edition",
                                            field="edition_id") from None
            raise

    async def take_seat(self, code: str, *, now: datetime) -> Invitation | None:
        # One conditional UPDATE: PostgreSQL re-checks the condition on the row it waited for, so 50
        # concurrent uses of a 10-seat code take exactly 10 seats (SQLite runs one writer at a time).
        row = (await self.conn.execute(
            update(invitations).where(invitations.c.code == code, invitations.c.used < invitations.c.seats,
                                      invitations.c.expires_at > now)
            .values(used=invitations.c.used + 1).returning(*invitations.c))).first()
        return None if row is None else invitation_from_row(row)

    async def find(self, code: str) -> Invitation | None:
        row = (await self.conn.execute(select(invitations).where(invitations.c.code == code))).first()
        return None if row is None else invitation_from_row(row)

    async def get(self, invitation_id: str) -> Invitation:
        return await get_or_raise(self.conn, invitations, invitation_id, to_record=invitation_from_row,
                                  missing=domain.InvitationNotFound(f"no invitation with id {invitation_id}"))

    async def give_back_seat(self, invitation_id: str) -> None:
        await self.conn.execute(update(invitations).where(invitations.c.id == invitation_id, invitations.c.used > 0)
                                .values(used=invitations.c.used - 1))

    async def page(self, *, edition_id: str | None, limit: int, cursor: str | None
                   ) -> tuple[list[Invitation], str | None]:
        query = select(invitations)
        if edition_id:
            query = query.where(invitations.c.edition_id == edition_id)
        rows, next_cursor = await keyset_page(self.conn, query, invitations.c.id, limit=limit, cursor=cursor)
        return [invitation_from_row(r) for r in rows], next_cursor


class SqlSessions:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get(self, session_id: str) -> Session:
        return await get_or_raise(self.conn, sessions, session_id, to_record=session_from_row,
                                  missing=domain.SessionNotFound(f"no session with id {session_id}"))

    async def lock(self, session_id: str) -> Session:
        return await get_or_raise(self.conn, sessions, session_id, to_record=session_from_row, lock="update",
                                  missing=domain.SessionNotFound(f"no session with id {session_id}"))

    async def add(self, session: Session) -> None:
        await self.conn.execute(sessions.insert(), {
            "id": session.id, "edition_id": session.edition_id, "kind": session.kind.value, "title": session.title,
            "capacity": session.capacity, "starts_at": session.starts_at, "created_at": session.created_at})

    async def page(self, *, edition_id: str | None, kind: SessionKind | None, limit: int, cursor: str | None
                   ) -> tuple[list[Session], str | None]:
        query = select(sessions)
        if edition_id:
            query = query.where(sessions.c.edition_id == edition_id)
        if kind:
            query = query.where(sessions.c.kind == kind.value)
        rows, next_cursor = await keyset_page(self.conn, query, sessions.c.id, limit=limit, cursor=cursor)
        return [session_from_row(r) for r in rows], next_cursor


def _enrollment_of(enrollment: Enrollment) -> Any:
    return (enrollments.c.session_id == enrollment.session_id) & (enrollments.c.delegate_id == enrollment.delegate_id)


class SqlEnrollments:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def find(self, session_id: str, delegate_id: str) -> Enrollment | None:
        row = (await self.conn.execute(select(enrollments).where(
            enrollments.c.session_id == session_id, enrollments.c.delegate_id == delegate_id))).first()
        return None if row is None else enrollment_from_row(row)

    async def taken_seats(self, session_id: str) -> set[int]:
        return set((await self.conn.execute(select(enrollments.c.seat).where(
            enrollments.c.session_id == session_id,
            enrollments.c.state == EnrollmentState.enrolled.value))).scalars().all())

    async def waiting(self, session_id: str) -> int:
        count: int = (await self.conn.execute(select(func.count()).where(
            enrollments.c.session_id == session_id,
            enrollments.c.state == EnrollmentState.waitlisted.value))).scalar_one()
        return count

    async def position(self, enrollment: Enrollment) -> int:
        # A wait-listed row's id (assigned under the session's row lock) is its place in the queue.
        own_id = select(enrollments.c.id).where(_enrollment_of(enrollment)).scalar_subquery()
        count: int = (await self.conn.execute(select(func.count()).where(
            enrollments.c.session_id == enrollment.session_id,
            enrollments.c.state == EnrollmentState.waitlisted.value, enrollments.c.id <= own_id))).scalar_one()
        return count

    async def counts(self, session_ids: Sequence[str]) -> dict[str, Counts]:
        rows = (await self.conn.execute(
            select(enrollments.c.session_id, enrollments.c.state, func.count())
            .where(enrollments.c.session_id.in_(session_ids))
            .group_by(enrollments.c.session_id, enrollments.c.state))).all()
        found: dict[str, dict[str, int]] = {}
        for session_id, state, n in rows:
            found.setdefault(session_id, {})[state] = n
        return {s: Counts(found.get(s, {}).get(EnrollmentState.enrolled.value, 0),
                          found.get(s, {}).get(EnrollmentState.waitlisted.value, 0)) for s in session_ids}

    async def first_waiting(self, session_id: str) -> Enrollment | None:
        row = (await self.conn.execute(select(enrollments).where(
            enrollments.c.session_id == session_id, enrollments.c.state == EnrollmentState.waitlisted.value)
            .order_by(enrollments.c.id).limit(1))).first()
        return None if row is None else enrollment_from_row(row)

    async def sessions_of(self, delegate_id: str) -> list[str]:
        return list((await self.conn.execute(select(enrollments.c.session_id).distinct().where(
            enrollments.c.delegate_id == delegate_id))).scalars().all())

    async def in_session(self, session_id: str) -> list[Enrollment]:
        """Enrolled delegates by seat, then the wait-list in order."""
        rows = await self.conn.execute(select(enrollments).where(enrollments.c.session_id == session_id)
                                       .order_by(enrollments.c.state, enrollments.c.seat, enrollments.c.id))
        return [enrollment_from_row(r) for r in rows]

    async def add(self, enrollment: Enrollment, *, session: Session) -> None:
        # The row carries the session's capacity: the seat constraints check the seat against it.
        await self.conn.execute(enrollments.insert().values(
            session_id=enrollment.session_id, session_capacity=session.capacity, delegate_id=enrollment.delegate_id,
            state=enrollment.state.value, seat=enrollment.seat, requested_at=enrollment.requested_at,
            enrolled_at=enrollment.enrolled_at))

    async def save(self, enrollment: Enrollment) -> None:
        await self.conn.execute(enrollments.update().where(_enrollment_of(enrollment)).values(
            state=enrollment.state.value, seat=enrollment.seat, enrolled_at=enrollment.enrolled_at))

    async def remove(self, enrollment: Enrollment) -> None:
        await self.conn.execute(delete(enrollments).where(_enrollment_of(enrollment)))


class SqlRegistrationUnitOfWork(UnitOfWork):
    """The registration repositories on the transaction's connection."""

    editions: SqlEditions
    delegates: SqlDelegates
    invitations: SqlInvitations
    scans: SqlScans
    sessions: SqlSessions
    enrollments: SqlEnrollments

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.editions = SqlEditions(self.conn)
        self.delegates = SqlDelegates(self.conn, insert_with_events=self.insert_with_events)
        self.invitations = SqlInvitations(self.conn)
        self.scans = SqlScans(self.conn)
        self.sessions = SqlSessions(self.conn)
        self.enrollments = SqlEnrollments(self.conn)
        return self
