"""Registration use cases; each is one transaction that writes its events to the outbox.

The use cases take the locks in the order ``repository.py`` describes: a delegate's row first, then
session rows in id order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from services.registration import domain
from services.registration.domain import (
    Delegate,
    Edition,
    EnrollmentReason,
    EnrollmentStanding,
    EnrollmentState,
    Invitation,
    NextEdition,
    Session,
    SessionKind,
    SessionWithCounts,
    Withdrawal,
)
from services.registration.repository import (
    RegistrationUnitOfWork,
    SqlDelegates,
    SqlEditions,
    SqlEnrollments,
    SqlInvitations,
    SqlSessions,
)
from services.registration.schemas import (
    CheckInRequest,
    DelegateCreate,
    DelegateUpdate,
    EditionCreate,
    InvitationCreate,
    SelfRegistration,
    SessionCreate,
)
from shared.events.types import DelegateCategory, DelegateStatus
from shared.stats import DelegateFigures

# -- editions -----------------------------------------------------------------------------------------------


async def next_edition(conn: AsyncConnection) -> NextEdition:
    return domain.next_edition(await SqlEditions(conn).last())


async def open_edition(*, uow: RegistrationUnitOfWork, request: EditionCreate) -> Edition:
    async with uow:
        edition, opened = domain.open_edition(
            last=await uow.editions.last(), year=request.year, host=request.host, city=request.city,
            theme=request.theme, starts_on=request.starts_on, ends_on=request.ends_on, co_hosts=request.co_hosts,
            now=datetime.now(UTC))
        await uow.editions.add(edition)
        uow.emit(opened, subject=edition.id)
        await uow.commit()
    return edition


async def get_edition(conn: AsyncConnection, edition_id: str) -> Edition:
    return await SqlEditions(conn).get(edition_id)


async def list_editions(conn: AsyncConnection) -> list[Edition]:
    return await SqlEditions(conn).all()


# -- delegates ----------------------------------------------------------------------------------------------


async def register_delegate(*, uow: RegistrationUnitOfWork, request: DelegateCreate) -> Delegate:
    async with uow:
        delegate, registered = domain.register(
            edition_id=request.edition_id, full_name=request.full_name, name_zh=request.name_zh,
            country=request.country, city=request.city, organization=request.organization, email=str(request.email),
            phone=request.phone, category=request.category, now=datetime.now(UTC),
            listed_publicly=request.listed_publicly)
        # Emitted first: the delegate's row and its event are written in one statement, which commits by itself.
        uow.emit(registered, subject=delegate.id)
        await uow.delegates.add(delegate, last_write=True)
        await uow.commit()
    return delegate


# -- invitations, self-registration and approval (issue 14) -----------------------------------------------


async def create_invitation(*, uow: RegistrationUnitOfWork, request: InvitationCreate) -> Invitation:
    async with uow:
        invitation = domain.create_invitation(
            edition_id=request.edition_id, label=request.label, seats=request.seats, expires_at=request.expires_at,
            country=request.country, organization=request.organization, category=request.category,
            now=datetime.now(UTC))
        await uow.invitations.add(invitation)
        await uow.commit()
    return invitation


async def list_invitations(conn: AsyncConnection, *, edition_id: str | None, limit: int, cursor: str | None
                           ) -> tuple[list[Invitation], str | None]:
    return await SqlInvitations(conn).page(edition_id=edition_id, limit=limit, cursor=cursor)


async def get_invitation(conn: AsyncConnection, invitation_id: str) -> Invitation:
    return await SqlInvitations(conn).get(invitation_id)


async def register_self(*, uow: RegistrationUnitOfWork, request: SelfRegistration) -> Delegate:
    """A delegate registers with their delegation's code: the seat and the pending registration are taken in
    one transaction, so a refused registration (a taken e-mail, another country) gives the seat back."""
    now = datetime.now(UTC)
    async with uow:
        invitation = await uow.invitations.take_seat(request.invitation_code, now=now)
        if invitation is None:
            raise domain.why_no_seat(await uow.invitations.find(request.invitation_code), now=now)
        domain.check_delegation(invitation, request.country)
        delegate, registered = domain.register(
            edition_id=invitation.edition_id, full_name=request.full_name, name_zh=request.name_zh,
            country=request.country, city=request.city, organization=request.organization or invitation.organization,
            email=str(request.email), phone=request.phone, category=invitation.category, now=now,
            listed_publicly=request.listed_publicly, invitation=invitation)
        uow.emit(registered, subject=delegate.id)
        await uow.delegates.add(delegate)
        await uow.commit()
    return delegate


async def approve_delegate(*, uow: RegistrationUnitOfWork, delegate_id: str) -> Delegate:
    async with uow:
        delegate = await uow.delegates.lock(delegate_id)
        approved, event = domain.approve(delegate, now=datetime.now(UTC))
        await uow.delegates.save(approved, was=delegate)
        uow.emit(event, subject=delegate.id)
        await uow.commit()
    return approved


async def reject_delegate(*, uow: RegistrationUnitOfWork, delegate_id: str, reason: str) -> Delegate:
    """Turns a pending registration down; its seat goes back to the invitation for someone else."""
    async with uow:
        delegate = await uow.delegates.lock(delegate_id)
        rejected, event = domain.reject(delegate, reason=reason, now=datetime.now(UTC))
        await uow.delegates.save(rejected, was=delegate)
        if delegate.invitation_id is not None:
            await uow.invitations.give_back_seat(delegate.invitation_id)
        uow.emit(event, subject=delegate.id)
        await uow.commit()
    return rejected


async def get_delegate(conn: AsyncConnection, delegate_id: str, *, anonymous: bool = False) -> Delegate:
    """The delegate; for an anonymous caller only one who consented to be listed, any other is "not found"
    exactly as an id that names nobody (the answer tells nothing about who registered)."""
    delegate = await SqlDelegates(conn).get(delegate_id)
    if anonymous and not domain.visible_to_anonymous(delegate):
        raise domain.DelegateNotFound(f"no delegate with id {delegate_id}")
    return delegate


async def list_delegates(conn: AsyncConnection, *, edition_id: str | None, country: str | None,
                         status: DelegateStatus | None, limit: int, cursor: str | None,
                         category: DelegateCategory | None = None, anonymous: bool = False
                         ) -> tuple[list[Delegate], str | None]:
    """A page of delegates; for an anonymous caller, of those who consented to be listed."""
    return await SqlDelegates(conn).page(edition_id=edition_id, country=country, status=status, category=category,
                                         limit=limit, cursor=cursor, listed_only=anonymous)


@dataclass(frozen=True)
class DelegateExport:
    """An edition and all its delegates in registration order, for the secretariat's spreadsheet."""

    edition: Edition
    delegates: list[Delegate]


async def export_delegates(conn: AsyncConnection, *, edition_id: str) -> DelegateExport:
    edition = await SqlEditions(conn).get(edition_id)
    return DelegateExport(edition=edition, delegates=await SqlDelegates(conn).of_edition(edition_id))


async def update_delegate(*, uow: RegistrationUnitOfWork, delegate_id: str, request: DelegateUpdate) -> Delegate:
    changes = request.changes()
    async with uow:
        delegate = await uow.delegates.lock(delegate_id)
        updated, event = domain.update(delegate, changes)
        await uow.delegates.save(updated, was=delegate)
        if event is not None:
            uow.emit(event, subject=delegate.id)
        await uow.commit()
    return updated


async def cancel_delegate(*, uow: RegistrationUnitOfWork, delegate_id: str) -> Delegate:
    """Cancels the registration and gives up the delegate's places: each freed seat goes to the
    first wait-listed delegate of that session, in the same transaction."""
    now = datetime.now(UTC)
    async with uow:
        delegate = await uow.delegates.lock(delegate_id)
        cancelled, event = domain.cancel(delegate, now=now)
        # Once the delegate row is locked no new enrolment of theirs can appear (enrolling takes a
        # share lock on it), so this list of sessions is complete.
        for session_id in sorted(await uow.enrollments.sessions_of(delegate_id)):
            session = await uow.sessions.lock(session_id)
            await _leave_session(uow, session, delegate_id, reason=EnrollmentReason.delegate_cancelled, now=now)
        await uow.delegates.save(cancelled, was=delegate)
        uow.emit(event, subject=delegate.id)
        await uow.commit()
    return cancelled


async def check_in(*, uow: RegistrationUnitOfWork, request: CheckInRequest) -> Delegate:
    async with uow:
        delegate = await uow.delegates.lock_by_badge(request.badge_code)
        checked_in, event = domain.check_in(delegate, scanned_for=request.edition_id, now=datetime.now(UTC))
        await uow.delegates.save(checked_in, was=delegate)
        uow.emit(event, subject=delegate.id)
        await uow.commit()
    return checked_in


async def check_in_offline(*, uow: RegistrationUnitOfWork, device_id: str, scans: list[domain.Scan]
                           ) -> list[domain.ScanOutcome]:
    """A device's offline scans in one transaction: nonces seen before answer what they got then; the others
    are resolved oldest first against the delegates, locked in id order (``domain.resolve_scans``)."""
    now = datetime.now(UTC)
    async with uow:
        # The delegates first: two uploads of the same scans wait for each other here, so the second
        # then sees the first one's nonces.
        locked = await uow.delegates.lock_by_badges([s.badge_code for s in scans])
        known = await uow.scans.known([s.nonce for s in scans])
        new = [s for s in scans if s.nonce not in known]
        resolved = domain.resolve_scans(new, locked)
        for before, after in resolved.changed.values():
            await uow.delegates.save(after, was=before)
        for event in resolved.events:
            uow.emit(event, subject=event.delegate_id)
        await uow.scans.add(device_id, new, resolved.outcomes, now=now)
        await uow.commit()
    return [known.get(s.nonce) or resolved.outcomes[s.nonce] for s in scans]


# -- erasure (issue 15) -------------------------------------------------------------------------------------


async def erase_delegate(*, uow: RegistrationUnitOfWork, delegate_id: str) -> Delegate:
    """Replaces the delegate's personal data by a tombstone, here and wherever this service kept a copy, and
    announces it (``delegate_erased``); counts stay. Erasing again changes nothing."""
    async with uow:
        erased, changed = await _erase(uow, await uow.delegates.lock(delegate_id), now=datetime.now(UTC))
        if changed:
            await uow.commit()
    return erased


async def _erase(uow: RegistrationUnitOfWork, delegate: Delegate, *, now: datetime) -> tuple[Delegate, bool]:
    """Erases a delegate whose row the caller has locked, and the copies of their data; False: erased before."""
    erased, event = domain.erase(delegate, now=now)
    if event is None:
        return erased, False
    await uow.delegates.save(erased, was=delegate)
    await uow.delegates.erase_traces(delegate.id)
    uow.emit(event, subject=delegate.id)
    return erased, True


RETENTION_BATCH = 500


async def erase_expired(uow_factory: Callable[[], RegistrationUnitOfWork], *, retention_days: int,
                        now: datetime) -> int:
    """Erases every delegate of the editions that ended more than ``retention_days`` ago, a batch per
    transaction; returns how many."""
    ended_before = (now - timedelta(days=retention_days)).date()
    erased = 0
    while True:
        async with uow_factory() as uow:
            due = await uow.delegates.lock_expired(ended_before=ended_before, limit=RETENTION_BATCH)
            for delegate in due:  # none erased before: lock_expired leaves those out
                await _erase(uow, delegate, now=now)
            await uow.commit()
        erased += len(due)
        if len(due) < RETENTION_BATCH:
            return erased


async def delegate_figures(conn: AsyncConnection, *, edition_id: str | None) -> DelegateFigures:
    return await SqlDelegates(conn).figures(edition_id=edition_id)


# -- sessions and enrolments --------------------------------------------------------------------------------


async def create_session(*, uow: RegistrationUnitOfWork, request: SessionCreate) -> SessionWithCounts:
    async with uow:
        edition = await uow.editions.get_referenced(request.edition_id)
        session = domain.create_session(edition, kind=request.kind, title=request.title, capacity=request.capacity,
                                        starts_at=request.starts_at, now=datetime.now(UTC))
        await uow.sessions.add(session)
        await uow.commit()
    return SessionWithCounts(session, domain.Counts(0, 0))


async def get_session(conn: AsyncConnection, session_id: str) -> SessionWithCounts:
    session = await SqlSessions(conn).get(session_id)
    return SessionWithCounts(session, (await SqlEnrollments(conn).counts([session_id]))[session_id])


async def list_sessions(conn: AsyncConnection, *, edition_id: str | None, kind: SessionKind | None,
                        limit: int, cursor: str | None) -> tuple[list[SessionWithCounts], str | None]:
    found, next_cursor = await SqlSessions(conn).page(edition_id=edition_id, kind=kind, limit=limit, cursor=cursor)
    counts = await SqlEnrollments(conn).counts([s.id for s in found]) if found else {}
    return [SessionWithCounts(s, counts[s.id]) for s in found], next_cursor


async def list_enrollments(conn: AsyncConnection, *, session_id: str) -> list[EnrollmentStanding]:
    """Enrolled delegates by seat, then the wait-list in order."""
    counted = await get_session(conn, session_id)
    position = 0
    standings = []
    for enrollment in await SqlEnrollments(conn).in_session(session_id):
        waiting = enrollment.state == EnrollmentState.waitlisted
        position += waiting
        standings.append(domain.standing_of(enrollment, counted.session, counted.counts,
                                            position=position if waiting else None))
    return standings


async def enroll(*, uow: RegistrationUnitOfWork, session_id: str, delegate_id: str
                 ) -> tuple[EnrollmentStanding, bool]:
    """Enrols the delegate, or wait-lists them when the session is full. Asking again returns the
    enrolment as it stands (``False``: nothing changed)."""
    async with uow:
        # The delegate's row first (a share lock), then the session's: the one lock order.
        delegate = await uow.delegates.lock_to_enroll(delegate_id)
        session = await uow.sessions.lock(session_id)
        if delegate is None:
            raise domain.UnknownDelegate(f"delegate_id {delegate_id} does not name a delegate", field="delegate_id")
        domain.check_enrollable(delegate, session)
        existing = await uow.enrollments.find(session_id, delegate_id)
        if existing is not None:
            counts = (await uow.enrollments.counts([session_id]))[session_id]
            position = (await uow.enrollments.position(existing)
                        if existing.state == EnrollmentState.waitlisted else None)
            return domain.standing_of(existing, session, counts, position=position), False
        standing, enrollment, event = domain.enroll(
            delegate, session, taken_seats=await uow.enrollments.taken_seats(session_id),
            waiting=await uow.enrollments.waiting(session_id), now=datetime.now(UTC))
        await uow.enrollments.add(enrollment, session=session)
        uow.emit(event, subject=session_id)
        await uow.commit()
    return standing, True


async def withdraw(*, uow: RegistrationUnitOfWork, session_id: str, delegate_id: str) -> Withdrawal:
    async with uow:
        session = await uow.sessions.lock(session_id)
        outcome = await _leave_session(uow, session, delegate_id, reason=EnrollmentReason.withdrawn,
                                       now=datetime.now(UTC))
        if outcome is None:
            raise domain.EnrollmentNotFound(f"delegate {delegate_id} is neither enrolled in nor wait-listed for "
                                            f"session {session_id}")
        await uow.commit()
    return outcome


async def _leave_session(uow: RegistrationUnitOfWork, session: Session, delegate_id: str, *,
                         reason: EnrollmentReason, now: datetime) -> Withdrawal | None:
    """Removes the delegate from a session whose row the caller has locked; a freed seat goes to the
    first delegate on the wait-list (FIFO: lowest id). None when the delegate held nothing there."""
    enrollment = await uow.enrollments.find(session.id, delegate_id)
    if enrollment is None:
        return None
    await uow.enrollments.remove(enrollment)
    counts = (await uow.enrollments.counts([session.id]))[session.id]
    uow.emit(domain.leave(enrollment, session, counts=counts, reason=reason), subject=session.id)
    promoted: str | None = None
    if enrollment.state == EnrollmentState.enrolled and enrollment.seat is not None:
        first = await uow.enrollments.first_waiting(session.id)
        if first is not None:
            moved_up, counts, event = domain.promote(first, session, seat=enrollment.seat, counts=counts, now=now)
            await uow.enrollments.save(moved_up)
            promoted = moved_up.delegate_id
            uow.emit(event, subject=session.id)
    return Withdrawal(session_id=session.id, delegate_id=delegate_id, previous_state=enrollment.state,
                      promoted_delegate_id=promoted, enrolled=counts.enrolled, waitlisted=counts.waitlisted,
                      capacity=session.capacity)
