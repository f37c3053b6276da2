"""In-memory registration repositories and unit of work, for unit tests of the use cases.

They keep the rules the database enforces (the edition foreign key, one e-mail per edition, unique
edition numbers, wait-list order by arrival) and undo every change of a block left without a commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from types import TracebackType
from typing import Self

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
    Session,
)
from tests.support.fakes import FakeUnitOfWork


@dataclass
class RegistrationTables:
    """What the registration database holds; ``enrollments`` in arrival order (the row ids)."""

    editions: dict[str, Edition] = field(default_factory=dict)
    delegates: dict[str, Delegate] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    enrollments: list[Enrollment] = field(default_factory=list)
    invitations: dict[str, Invitation] = field(default_factory=dict)
    scans: dict[str, ScanOutcome] = field(default_factory=dict)

    def copy(self) -> RegistrationTables:
        # Records are frozen: copying the containers is a full snapshot.
        return RegistrationTables(dict(self.editions), dict(self.delegates), dict(self.sessions),
                                  list(self.enrollments), dict(self.invitations), dict(self.scans))


class FakeEditions:
    def __init__(self, tables: RegistrationTables) -> None:
        self.tables = tables

    async def last(self) -> Edition | None:
        return max(self.tables.editions.values(), key=lambda e: e.number, default=None)

    async def get_referenced(self, edition_id: str) -> Edition:
        if edition_id not in self.tables.editions:
            raise domain.UnknownEdition(f"edition_id {edition_id} does not name an edition", field="edition_id")
        return self.tables.editions[edition_id]

    async def add(self, edition: Edition) -> None:
        if any(e.number == edition.number for e in self.tables.editions.values()):
            raise domain.EditionNumberTaken("another edition was opened at the same moment; retry")
        self.tables.editions[edition.id] = edition


class FakeDelegates:
    def __init__(self, tables: RegistrationTables) -> None:
        self.tables = tables

    def _get(self, delegate_id: str) -> Delegate:
        if delegate_id not in self.tables.delegates:
            raise domain.DelegateNotFound(f"no delegate with id {delegate_id}")
        return self.tables.delegates[delegate_id]

    async def lock(self, delegate_id: str) -> Delegate:
        return self._get(delegate_id)

    async def lock_to_enroll(self, delegate_id: str) -> Delegate | None:
        return self.tables.delegates.get(delegate_id)

    async def lock_by_badge(self, badge_code: str) -> Delegate:
        for delegate in self.tables.delegates.values():
            if delegate.badge_code == badge_code:
                return delegate
        raise domain.BadgeNotFound("no delegate holds this badge code", field="badge_code")

    async def lock_expired(self, *, ended_before: date, limit: int) -> list[Delegate]:
        ended = {e.id for e in self.tables.editions.values() if e.ends_on < ended_before}
        due = sorted((d for d in self.tables.delegates.values() if d.erased_at is None and d.edition_id in ended),
                     key=lambda d: d.id)
        return due[:limit]

    async def erase_traces(self, delegate_id: str) -> None:
        pass  # the fakes keep no idempotent answers; scans hold no badge code

    async def lock_by_badges(self, badge_codes: Sequence[str]) -> dict[str, Delegate]:
        wanted = set(badge_codes)
        return {d.badge_code: d for d in self.tables.delegates.values() if d.badge_code in wanted}

    def _check_email(self, delegate: Delegate) -> None:
        email = domain.normalize_email(delegate.email)
        for other in self.tables.delegates.values():
            if (other.id != delegate.id and other.edition_id == delegate.edition_id
                    and domain.normalize_email(other.email) == email):
                raise domain.DuplicateEmail(f"{delegate.email} is already registered for this edition",
                                            field="email")

    async def add(self, delegate: Delegate, *, last_write: bool = False) -> None:
        if delegate.edition_id not in self.tables.editions:
            raise domain.UnknownEdition(f"edition_id {delegate.edition_id} does not name an edition",
                                        field="edition_id")
        self._check_email(delegate)
        self.tables.delegates[delegate.id] = delegate

    async def save(self, delegate: Delegate, *, was: Delegate) -> None:
        assert self.tables.delegates[delegate.id] == was, "saved over a change made since it was loaded"
        self._check_email(delegate)
        self.tables.delegates[delegate.id] = delegate


class FakeSessions:
    def __init__(self, tables: RegistrationTables) -> None:
        self.tables = tables

    async def lock(self, session_id: str) -> Session:
        if session_id not in self.tables.sessions:
            raise domain.SessionNotFound(f"no session with id {session_id}")
        return self.tables.sessions[session_id]

    async def add(self, session: Session) -> None:
        self.tables.sessions[session.id] = session


class FakeEnrollments:
    def __init__(self, tables: RegistrationTables) -> None:
        self.tables = tables

    def _in(self, session_id: str, state: EnrollmentState | None = None) -> list[Enrollment]:
        return [e for e in self.tables.enrollments
                if e.session_id == session_id and (state is None or e.state == state)]

    def _index(self, enrollment: Enrollment) -> int:
        for i, e in enumerate(self.tables.enrollments):
            if (e.session_id, e.delegate_id) == (enrollment.session_id, enrollment.delegate_id):
                return i
        raise AssertionError(f"no enrolment of {enrollment.delegate_id} in {enrollment.session_id}")

    async def find(self, session_id: str, delegate_id: str) -> Enrollment | None:
        return next((e for e in self._in(session_id) if e.delegate_id == delegate_id), None)

    async def taken_seats(self, session_id: str) -> set[int]:
        return {e.seat for e in self._in(session_id, EnrollmentState.enrolled) if e.seat is not None}

    async def waiting(self, session_id: str) -> int:
        return len(self._in(session_id, EnrollmentState.waitlisted))

    async def position(self, enrollment: Enrollment) -> int:
        queue = [e.delegate_id for e in self._in(enrollment.session_id, EnrollmentState.waitlisted)]
        return queue.index(enrollment.delegate_id) + 1

    async def counts(self, session_ids: Sequence[str]) -> dict[str, Counts]:
        return {s: Counts(len(self._in(s, EnrollmentState.enrolled)), len(self._in(s, EnrollmentState.waitlisted)))
                for s in session_ids}

    async def first_waiting(self, session_id: str) -> Enrollment | None:
        return next(iter(self._in(session_id, EnrollmentState.waitlisted)), None)

    async def sessions_of(self, delegate_id: str) -> list[str]:
        return list(dict.fromkeys(e.session_id for e in self.tables.enrollments if e.delegate_id == delegate_id))

    async def add(self, enrollment: Enrollment, *, session: Session) -> None:
        # The seat constraints of the enrollments table.
        assert await self.find(enrollment.session_id, enrollment.delegate_id) is None
        if enrollment.state == EnrollmentState.enrolled:
            assert enrollment.seat is not None and 1 <= enrollment.seat <= session.capacity
            assert enrollment.seat not in await self.taken_seats(session.id)
        self.tables.enrollments.append(enrollment)

    async def save(self, enrollment: Enrollment) -> None:
        self.tables.enrollments[self._index(enrollment)] = enrollment

    async def remove(self, enrollment: Enrollment) -> None:
        del self.tables.enrollments[self._index(enrollment)]


class FakeInvitations:
    """Seats taken only while some remain and the code has not expired (the conditional UPDATE's rule)."""

    def __init__(self, tables: RegistrationTables) -> None:
        self.tables = tables

    async def add(self, invitation: Invitation) -> None:
        if invitation.edition_id not in self.tables.editions:
            raise domain.UnknownEdition(f"edition_id {invitation.edition_id} does not name an edition",
                                        field="edition_id")
        self.tables.invitations[invitation.id] = invitation

    async def find(self, code: str) -> Invitation | None:
        return next((i for i in self.tables.invitations.values() if i.code == code), None)

    async def take_seat(self, code: str, *, now: datetime) -> Invitation | None:
        found = await self.find(code)
        if found is None or found.used >= found.seats or found.expires_at <= now:
            return None
        taken = self.tables.invitations[found.id] = replace(found, used=found.used + 1)
        return taken

    async def give_back_seat(self, invitation_id: str) -> None:
        found = self.tables.invitations[invitation_id]
        self.tables.invitations[invitation_id] = replace(found, used=max(0, found.used - 1))


class FakeScans:
    def __init__(self, tables: RegistrationTables) -> None:
        self.tables = tables

    async def known(self, nonces: Sequence[str]) -> dict[str, ScanOutcome]:
        return {n: self.tables.scans[n] for n in nonces if n in self.tables.scans}

    async def add(self, device_id: str, scans: Sequence[Scan], outcomes: dict[str, ScanOutcome], *,
                  now: datetime) -> None:
        for scan in scans:
            self.tables.scans[scan.nonce] = outcomes[scan.nonce]


class FakeRegistrationUnitOfWork(FakeUnitOfWork):
    """Implements ``RegistrationUnitOfWork`` on :class:`RegistrationTables`; a block left without a
    commit leaves the tables as they were (a rollback)."""

    def __init__(self, tables: RegistrationTables | None = None) -> None:
        super().__init__()
        self.tables = tables or RegistrationTables()
        self._before = self.tables.copy()
        self.editions = FakeEditions(self.tables)
        self.delegates = FakeDelegates(self.tables)
        self.sessions = FakeSessions(self.tables)
        self.enrollments = FakeEnrollments(self.tables)
        self.invitations = FakeInvitations(self.tables)
        self.scans = FakeScans(self.tables)

    async def __aenter__(self) -> Self:
        self._before = self.tables.copy()
        return await super().__aenter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        # Back to the tables as of entering or the last commit: what was not committed is undone.
        before = self._before
        self.tables.editions, self.tables.delegates = before.editions, before.delegates
        self.tables.sessions, self.tables.enrollments = before.sessions, before.enrollments
        self.tables.invitations, self.tables.scans = before.invitations, before.scans
        await super().__aexit__(exc_type, exc, tb)

    async def commit(self) -> None:
        await super().commit()
        self._before = self.tables.copy()
