"""Registration rules, free of web and database code."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, TypedDict

from shared.errors import Conflict, DomainError, InvalidTransition, NotFound, UnknownReference
from shared.events import registration as events
from shared.events.types import CountryCode, DelegateCategory, DelegateStatus, Host

ROTATION = (Host.chongqing, Host.sichuan)
# A session's start (UTC) may fall a day either side of its edition's dates: 08:00 in Chengdu on
# the first day is still the previous day in UTC, and a field visit may run the day after.
SESSION_DATE_GRACE = timedelta(days=1)
# An edition runs a few days; a month is the most a request may claim (docs/decisions.md, "Strict input").
MAX_EDITION_DAYS = 31


class SessionKind(StrEnum):
    forum = "forum"
    field_visit = "field_visit"


class EnrollmentState(StrEnum):
    enrolled = "enrolled"
    waitlisted = "waitlisted"
    withdrawn = "withdrawn"  # only ever in answers and events: a withdrawn enrolment is deleted


class EnrollmentReason(StrEnum):
    """Why an enrolment changed (carried by ``session_enrollment_changed``)."""

    requested = "requested"
    withdrawn = "withdrawn"
    promoted = "promoted"
    delegate_cancelled = "delegate_cancelled"


# -- errors: one class per rule, mapped to HTTP by shared/app.py --------------------------------------------


class EditionNotFound(NotFound):
    code = "edition_not_found"


class UnknownEdition(UnknownReference):
    code = "unknown_edition"


class InvalidEditionDates(DomainError):
    status = 422
    code = "invalid_dates"
    title = "Invalid dates"


class EditionNumberTaken(Conflict):
    code = "edition_number_taken"


class DelegateNotFound(NotFound):
    code = "delegate_not_found"


class UnknownDelegate(UnknownReference):
    code = "unknown_delegate"


class DuplicateEmail(Conflict):
    code = "duplicate_email"
    title = "E-mail already registered for this edition"


class DelegateAlreadyCancelled(InvalidTransition):
    code = "already_cancelled"


class DelegateCancelled(InvalidTransition):
    """The delegate's registration is cancelled: no check-in, no change, no enrolment."""

    code = "delegate_cancelled"
    title = "The registration is cancelled"


class NotApproved(InvalidTransition):
    """A self-registration still waits for approval, or was rejected: no badge, check-in or enrolment yet."""

    code = "not_approved"
    title = "The registration is not approved"


class NotPending(InvalidTransition):
    code = "not_pending"
    title = "Only a pending registration can be approved or rejected"


class RegistrationRejected(InvalidTransition):
    code = "registration_rejected"
    title = "The registration was rejected"


class DelegateErased(InvalidTransition):
    code = "delegate_erased"
    title = "The delegate's personal data was erased"


class InvitationNotFound(NotFound):
    code = "invitation_not_found"


class UnknownInvitation(UnknownReference):
    code = "unknown_invitation"
    title = "Unknown invitation code"


class InvitationExpired(Conflict):
    code = "invitation_expired"
    title = "The invitation has expired"


class InvitationFull(Conflict):
    code = "invitation_full"
    title = "Every seat of the invitation is taken"


class WrongDelegation(DomainError):
    status = 422
    code = "wrong_delegation"
    title = "The invitation is for another country's delegation"


class BadgeNotFound(NotFound):
    code = "badge_not_found"
    title = "Unknown badge"


class AlreadyCheckedIn(InvalidTransition):
    code = "already_checked_in"
    title = "Already checked in"


class WrongEdition(DomainError):
    status = 409
    code = "wrong_edition"
    title = "Belongs to another edition"


class InvalidInvitation(DomainError):
    status = 422
    code = "invalid_invitation"
    title = "Invalid invitation"


class SessionNotFound(NotFound):
    code = "session_not_found"


class InvalidSessionStart(DomainError):
    status = 422
    code = "invalid_starts_at"
    title = "Session outside its edition"


class EnrollmentNotFound(NotFound):
    code = "enrollment_not_found"


def rfc3339(moment: datetime) -> str:
    """The timestamp as the API writes it everywhere (UTC, ``Z``), so that a problem's detail and
    fields read the same as the delegate's ``checked_in_at``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- records: one frozen dataclass per aggregate, built from rows by repository.py ----------------------------


@dataclass(frozen=True)
class Edition:
    id: str
    number: int
    year: int
    host: Host
    city: str | None
    theme: str | None
    starts_on: date
    ends_on: date
    created_at: datetime
    co_hosts: tuple[str, ...]


@dataclass(frozen=True)
class NextEdition:
    """Number, host and co-hosts an edition opened now gets when the request leaves them out."""

    number: int
    host: Host
    co_hosts: tuple[str, ...]


@dataclass(frozen=True)
class CountableState:
    """What the dashboard counts by: a change of any of these is announced by an event."""

    country: CountryCode
    category: DelegateCategory
    status: DelegateStatus


@dataclass(frozen=True)
class Delegate:
    id: str
    edition_id: str
    full_name: str
    name_zh: str | None
    country: str
    city: str | None
    organization: str | None
    email: str
    phone: str | None
    category: DelegateCategory
    status: DelegateStatus
    badge_code: str
    registered_at: datetime
    checked_in_at: datetime | None
    cancelled_at: datetime | None
    # The delegate's consent to appear in the anonymous list (name, country, organisation, city). Personal,
    # not countable: it never travels in events.
    listed_publicly: bool = False
    # Self-registration (issue 14): the invitation it used, and the registrar's decision on it.
    invitation_id: str | None = None
    decided_at: datetime | None = None
    rejection_reason: str | None = None
    # Erasure (issue 15): the personal data is gone, a tombstone stands in; counts and check-in state stay.
    erased_at: datetime | None = None

    @property
    def countable(self) -> CountableState:
        return CountableState(self.country, self.category, self.status)


class Correction(TypedDict, total=False):
    """The fields of a delegate a registrar may correct; those left out stay as they are."""

    full_name: str
    name_zh: str | None
    country: str
    city: str | None
    organization: str | None
    email: str
    phone: str | None
    category: DelegateCategory
    listed_publicly: bool


@dataclass(frozen=True)
class Invitation:
    """Seats for an organisation or a country delegation: each self-registration with ``code`` takes one."""

    id: str
    edition_id: str
    code: str
    label: str
    seats: int
    used: int
    expires_at: datetime
    country: str | None
    organization: str | None
    category: DelegateCategory
    created_at: datetime

    @property
    def remaining(self) -> int:
        return self.seats - self.used


@dataclass(frozen=True)
class Session:
    id: str
    edition_id: str
    kind: SessionKind
    title: str
    capacity: int
    starts_at: datetime
    created_at: datetime


@dataclass(frozen=True)
class Counts:
    """A session's enrolled and wait-listed delegates."""

    enrolled: int
    waitlisted: int


@dataclass(frozen=True)
class SessionWithCounts:
    session: Session
    counts: Counts

    @property
    def available(self) -> int:
        return self.session.capacity - self.counts.enrolled


@dataclass(frozen=True)
class Enrollment:
    """A delegate's place in a session (``seat``), or their wait for one (no seat)."""

    session_id: str
    delegate_id: str
    state: EnrollmentState
    seat: int | None
    requested_at: datetime
    enrolled_at: datetime | None


@dataclass(frozen=True)
class EnrollmentStanding:
    """An enrolment as the delegate sees it: their state and place in the queue, and the session's figures."""

    session_id: str
    delegate_id: str
    state: EnrollmentState
    position: int | None
    requested_at: datetime
    enrolled_at: datetime | None
    enrolled: int
    waitlisted: int
    capacity: int


@dataclass(frozen=True)
class Withdrawal:
    """A delegate gone from a session, and who took the freed seat."""

    session_id: str
    delegate_id: str
    previous_state: EnrollmentState
    promoted_delegate_id: str | None
    enrolled: int
    waitlisted: int
    capacity: int
    state: EnrollmentState = EnrollmentState.withdrawn


# -- editions -----------------------------------------------------------------------------------------------


def host_after(previous: Host | None) -> Host:
    """The Sichuan–Chongqing rotation: the first edition is in Chongqing, then they alternate."""
    if previous is None:
        return ROTATION[0]
    return ROTATION[(ROTATION.index(previous) + 1) % len(ROTATION)]


def check_edition_dates(year: int, starts_on: date, ends_on: date) -> None:
    if ends_on < starts_on:
        raise InvalidEditionDates(f"ends_on ({ends_on}) is before starts_on ({starts_on})", field="ends_on")
    if (ends_on - starts_on).days > MAX_EDITION_DAYS:
        raise InvalidEditionDates(f"ends_on ({ends_on}) is more than {MAX_EDITION_DAYS} days after starts_on "
                                  f"({starts_on}); an edition lasts at most {MAX_EDITION_DAYS} days", field="ends_on")
    if starts_on.year != year:
        raise InvalidEditionDates(f"starts_on ({starts_on}) is not in the edition's year {year}", field="starts_on")


def normalize_co_hosts(co_hosts: list[str]) -> list[str]:
    """Co-hosts in the order given, each once (compared without regard to case or spacing)."""
    seen: set[str] = set()
    result: list[str] = []
    for name in co_hosts:
        key = " ".join(name.split()).casefold()
        if key not in seen:
            seen.add(key)
            result.append(" ".join(name.split()))
    return result


def next_co_hosts(previous: list[str] | None) -> list[str]:
    """An edition opened without co-hosts keeps the previous edition's: the co-hosting bodies (the
    federation and both governments) stay the same while the host rotates."""
    return list(previous or [])


def next_edition(last: Edition | None) -> NextEdition:
    if last is None:
        return NextEdition(1, host_after(None), tuple(next_co_hosts(None)))
    return NextEdition(last.number + 1, host_after(last.host), tuple(next_co_hosts(list(last.co_hosts))))


def open_edition(*, last: Edition | None, year: int, host: Host | None, city: str | None, theme: str | None,
                 starts_on: date, ends_on: date, co_hosts: list[str] | None, now: datetime
                 ) -> tuple[Edition, events.EditionOpened]:
    """The next edition after ``last``: the rotation's host and the previous co-hosts unless given."""
    check_edition_dates(year, starts_on, ends_on)
    defaults = next_edition(last)
    edition = Edition(
        id=str(uuid.uuid4()), number=defaults.number, year=year, host=host or defaults.host, city=city,
        theme=theme, starts_on=starts_on, ends_on=ends_on, created_at=now,
        co_hosts=defaults.co_hosts if co_hosts is None else tuple(normalize_co_hosts(co_hosts)))
    return edition, events.EditionOpened(
        edition_id=edition.id, number=edition.number, year=year, host=edition.host, city=city, theme=theme,
        starts_on=starts_on, ends_on=ends_on, co_hosts=list(edition.co_hosts))


# -- delegates ----------------------------------------------------------------------------------------------


def normalize_email(email: str) -> str:
    return email.strip().lower()


def new_badge_code() -> str:
    """An unguessable QR payload (128 bits)."""
    return secrets.token_urlsafe(16)


def _previous(delegate: Delegate) -> events.DelegatePrevious:
    return events.DelegatePrevious(country=delegate.country, category=delegate.category, status=delegate.status)


def _state(delegate: Delegate) -> dict[str, Any]:
    """The countable state every delegate event carries: the delegate as they are after the change."""
    return {"delegate_id": delegate.id, "edition_id": delegate.edition_id, "country": delegate.country,
            "category": delegate.category, "status": delegate.status, "registered_at": delegate.registered_at,
            "checked_in_at": delegate.checked_in_at}


def register(*, edition_id: str, full_name: str, name_zh: str | None, country: str, city: str | None,
             organization: str | None, email: str, phone: str | None, category: DelegateCategory, now: datetime,
             listed_publicly: bool = False, invitation: Invitation | None = None
             ) -> tuple[Delegate, events.DelegateRegistered]:
    """A new registration; whether the edition exists and the e-mail is free is the database's to say.
    Listed publicly only when the delegate said so (private by default). Staff registrations count at once;
    one made with an ``invitation`` (by the delegate) is pending until a registrar approves it."""
    delegate = Delegate(
        id=str(uuid.uuid4()), edition_id=edition_id, full_name=full_name, name_zh=name_zh, country=country,
        city=city, organization=organization, email=email, phone=phone, category=category,
        status=DelegateStatus.registered if invitation is None else DelegateStatus.pending,
        badge_code=new_badge_code(), registered_at=now, checked_in_at=None, cancelled_at=None,
        listed_publicly=listed_publicly, invitation_id=None if invitation is None else invitation.id)
    return delegate, events.DelegateRegistered(**_state(delegate))


def cancel(delegate: Delegate, *, now: datetime) -> tuple[Delegate, events.DelegateCancelled]:
    if delegate.status == DelegateStatus.cancelled:
        raise DelegateAlreadyCancelled("the delegate is already cancelled")
    if delegate.status == DelegateStatus.rejected:
        raise RegistrationRejected("the registration was rejected; there is nothing to cancel")
    cancelled = replace(delegate, status=DelegateStatus.cancelled, cancelled_at=now)
    return cancelled, events.DelegateCancelled(**_state(cancelled), previous=_previous(delegate))


def visible_to_anonymous(delegate: Delegate) -> bool:
    """An anonymous caller sees a delegate only with that delegate's consent (DESIGN.md §4, private by default),
    and never one whose registration is not approved."""
    return delegate.listed_publicly and delegate.status not in NOT_APPROVED


def check_changeable(delegate: Delegate) -> None:
    """A cancelled, rejected or erased registration is closed: register again rather than edit it."""
    check_not_erased(delegate)
    if delegate.status == DelegateStatus.rejected:
        raise RegistrationRejected("the registration was rejected and can no longer be changed")
    if delegate.status == DelegateStatus.cancelled:
        cancelled_at = delegate.cancelled_at
        when = f" at {rfc3339(cancelled_at)}" if cancelled_at else ""
        raise DelegateCancelled(f"the registration was cancelled{when} and can no longer be changed",
                                cancelled_at=rfc3339(cancelled_at) if cancelled_at else None)


def countable_change(before: CountableState, after: CountableState) -> bool:
    return before != after


def update(delegate: Delegate, changes: Correction) -> tuple[Delegate, events.DelegateUpdated | None]:
    """The corrected delegate, and the event announcing it, or None: only what consumers count travels in
    events, so a corrected city or phone stays here."""
    check_changeable(delegate)
    after = replace(delegate, **changes)
    if not countable_change(delegate.countable, after.countable):
        return after, None
    return after, events.DelegateUpdated(**_state(after), previous=_previous(delegate))


def check_in(delegate: Delegate, *, scanned_for: str | None, now: datetime
             ) -> tuple[Delegate, events.DelegateCheckedIn]:
    """A badge checks in once; a repeat scan names when the first one happened."""
    check_badge_edition(delegate.edition_id, scanned_for)
    if delegate.status == DelegateStatus.checked_in:
        checked_in_at = delegate.checked_in_at
        when = rfc3339(checked_in_at) if checked_in_at else "earlier"
        raise AlreadyCheckedIn(f"this badge was already checked in at {when}",
                               checked_in_at=rfc3339(checked_in_at) if checked_in_at else None)
    if delegate.status == DelegateStatus.cancelled:
        cancelled_at = delegate.cancelled_at
        when = f" at {rfc3339(cancelled_at)}" if cancelled_at else ""
        raise DelegateCancelled(f"this badge belongs to a registration cancelled{when}; send the delegate "
                                "to the registration desk",
                                cancelled_at=rfc3339(cancelled_at) if cancelled_at else None)
    check_approved(delegate, "this badge's registration is not approved; send the delegate to the registration desk")
    checked_in = replace(delegate, status=DelegateStatus.checked_in, checked_in_at=now)
    return checked_in, events.DelegateCheckedIn(**_state(checked_in), previous=_previous(delegate))


class ScanResult(StrEnum):
    """What one offline scan came to (``POST /check-ins/batch``)."""

    ok = "ok"  # this scan checked the delegate in
    already_checked_in = "already_checked_in"  # an earlier scan did (the earliest by time is the check-in)
    unknown = "unknown"  # no delegate holds the badge code
    cancelled = "cancelled"
    not_approved = "not_approved"  # a self-registration still pending, or rejected
    wrong_edition = "wrong_edition"


@dataclass(frozen=True)
class Scan:
    """A badge scanned by a device, perhaps offline: ``nonce`` is the device's own id for the scan."""

    nonce: str
    badge_code: str
    scanned_at: datetime
    edition_id: str | None = None


@dataclass(frozen=True)
class ScanOutcome:
    nonce: str
    result: ScanResult
    delegate_id: str | None
    checked_in_at: datetime | None  # the delegate's check-in time as it stands after the upload


@dataclass
class ResolvedScans:
    outcomes: dict[str, ScanOutcome]  # by nonce
    changed: dict[str, tuple[Delegate, Delegate]]  # delegate id -> (as loaded, as it is now)
    events: list[events.DelegateCheckedIn | events.DelegateUpdated]


def resolve_scans(scans: list[Scan], delegates_by_badge: dict[str, Delegate]) -> ResolvedScans:
    """Offline scans, applied oldest first (pretix's model): a delegate is checked in once, at the earliest
    scan by time. A scan older than the delegate's check-in (a device that was offline longer) moves the
    check-in back to it, announced by ``delegate_updated``, not by a second ``delegate_checked_in``."""
    current = dict(delegates_by_badge)
    loaded = {d.id: d for d in delegates_by_badge.values()}
    outcomes: dict[str, ScanOutcome] = {}
    emitted: list[events.DelegateCheckedIn | events.DelegateUpdated] = []
    moved_back: set[str] = set()
    for scan in sorted(scans, key=lambda s: (s.scanned_at, s.nonce)):
        delegate = current.get(scan.badge_code)
        result: ScanResult
        if delegate is None:
            outcomes[scan.nonce] = ScanOutcome(scan.nonce, ScanResult.unknown, None, None)
            continue
        if scan.edition_id is not None and scan.edition_id != delegate.edition_id:
            result = ScanResult.wrong_edition
        elif delegate.status == DelegateStatus.cancelled:
            result = ScanResult.cancelled
        elif delegate.status in NOT_APPROVED:
            result = ScanResult.not_approved
        elif delegate.status == DelegateStatus.registered:
            checked_in = replace(delegate, status=DelegateStatus.checked_in, checked_in_at=scan.scanned_at)
            emitted.append(events.DelegateCheckedIn(**_state(checked_in), previous=_previous(delegate)))
            delegate = current[scan.badge_code] = checked_in
            result = ScanResult.ok
        else:
            if delegate.checked_in_at is None or scan.scanned_at < delegate.checked_in_at:
                delegate = current[scan.badge_code] = replace(delegate, checked_in_at=scan.scanned_at)
                moved_back.add(delegate.id)
            result = ScanResult.already_checked_in
        outcomes[scan.nonce] = ScanOutcome(scan.nonce, result, delegate.id, None)
    final = {d.id: d for d in current.values()}
    for delegate_id in sorted(moved_back):
        before, after = loaded[delegate_id], final[delegate_id]
        if before.status == DelegateStatus.checked_in:  # checked in by an earlier upload: its time moved
            emitted.append(events.DelegateUpdated(**_state(after), previous=_previous(before)))
    outcomes = {nonce: replace(o, checked_in_at=None if o.delegate_id is None else final[o.delegate_id].checked_in_at)
                for nonce, o in outcomes.items()}
    changed = {i: (loaded[i], d) for i, d in final.items() if d != loaded[i]}
    return ResolvedScans(outcomes=outcomes, changed=changed, events=emitted)


def check_badge_edition(badge_edition: str, scanned_for: str | None) -> None:
    """A scanner set up for one edition refuses last year's badge."""
    if scanned_for is not None and scanned_for != badge_edition:
        raise WrongEdition("this badge belongs to another edition of the conference", field="edition_id")


NOT_APPROVED = frozenset({DelegateStatus.pending, DelegateStatus.rejected})


def check_approved(delegate: Delegate, detail: str, **extra: object) -> None:
    """Badge, check-in and enrolment are for approved delegates only."""
    if delegate.status in NOT_APPROVED:
        raise NotApproved(f"{detail} (status {delegate.status.value})", delegate_status=delegate.status.value, **extra)


def _decided(delegate: Delegate) -> None:
    if delegate.status != DelegateStatus.pending:
        raise NotPending(f"the registration is {delegate.status.value}, not pending",
                         delegate_status=delegate.status.value)


def approve(delegate: Delegate, *, now: datetime) -> tuple[Delegate, events.DelegateApproved]:
    """A pending self-registration becomes a registration that counts (and may get its badge)."""
    _decided(delegate)
    approved = replace(delegate, status=DelegateStatus.registered, decided_at=now)
    return approved, events.DelegateApproved(**_state(approved), previous=_previous(delegate))


def reject(delegate: Delegate, *, reason: str, now: datetime) -> tuple[Delegate, events.DelegateRejected]:
    """A pending self-registration turned down with a reason (kept here, never in the event); its seat goes
    back to the invitation (the use case's to do)."""
    _decided(delegate)
    rejected = replace(delegate, status=DelegateStatus.rejected, decided_at=now, rejection_reason=reason)
    return rejected, events.DelegateRejected(**_state(rejected), previous=_previous(delegate))


# -- erasure (issue 15) -------------------------------------------------------------------------------------

ERASED_NAME = "[erased]"


def check_not_erased(delegate: Delegate) -> None:
    if delegate.erased_at is not None:
        raise DelegateErased(f"the delegate's personal data was erased at {rfc3339(delegate.erased_at)}",
                             erased_at=rfc3339(delegate.erased_at))


def erase(delegate: Delegate, *, now: datetime) -> tuple[Delegate, events.DelegateErased | None]:
    """The delegate as a tombstone: every personal field replaced or cleared (the badge code too, so the QR
    code no longer opens anything); edition, country, category, status and times stay, so no count moves.
    Erasing again changes nothing (None: no second event)."""
    if delegate.erased_at is not None:
        return delegate, None
    erased = replace(
        delegate, full_name=ERASED_NAME, name_zh=None, city=None, organization=None,
        # Both unique columns keep a value of their own (the id is unique) that names nobody.
        email=f"erased-{delegate.id}@erased.invalid", phone=None, badge_code=f"erased-{delegate.id}",
        listed_publicly=False, rejection_reason=None, erased_at=now)
    return erased, events.DelegateErased(**_state(erased), erased_at=now)


# -- invitations --------------------------------------------------------------------------------------------


def new_invitation_code() -> str:
    """An unguessable code to hand to a delegation (96 bits, URL- and print-safe)."""
    return secrets.token_urlsafe(12)


def create_invitation(*, edition_id: str, label: str, seats: int, expires_at: datetime, country: str | None,
                      organization: str | None, category: DelegateCategory, now: datetime) -> Invitation:
    if expires_at <= now:
        raise InvalidInvitation(f"expires_at ({rfc3339(expires_at)}) is not in the future", field="expires_at")
    return Invitation(id=str(uuid.uuid4()), edition_id=edition_id, code=new_invitation_code(), label=label,
                      seats=seats, used=0, expires_at=expires_at.astimezone(UTC), country=country,
                      organization=organization, category=category, created_at=now)


def why_no_seat(invitation: Invitation | None, *, now: datetime) -> DomainError:
    """The problem for a code that gave no seat: unknown, expired or full."""
    if invitation is None:
        return UnknownInvitation("invitation_code does not name an invitation; check it letter by letter",
                                 field="invitation_code")
    if invitation.expires_at <= now:
        return InvitationExpired(f"the invitation expired at {rfc3339(invitation.expires_at)}; ask the "
                                 "organisers for a new one", field="invitation_code")
    return InvitationFull(f"all {invitation.seats} seats of the invitation are taken", field="invitation_code")


def check_delegation(invitation: Invitation, country: str) -> None:
    """A country delegation's invitation registers delegates of that country only."""
    if invitation.country is not None and invitation.country != country:
        raise WrongDelegation(f"this invitation is for the delegation of {invitation.country}, not {country}",
                              field="country")


# -- sessions -----------------------------------------------------------------------------------------------


def check_session_start(starts_at: datetime, edition_starts_on: date, edition_ends_on: date) -> None:
    day = starts_at.date()
    if not (edition_starts_on - SESSION_DATE_GRACE <= day <= edition_ends_on + SESSION_DATE_GRACE):
        raise InvalidSessionStart(
            f"starts_at ({starts_at.isoformat()}) is not during the edition ({edition_starts_on} to {edition_ends_on},"
            " a day's grace either side)", field="starts_at")


def create_session(edition: Edition, *, kind: SessionKind, title: str, capacity: int, starts_at: datetime,
                   now: datetime) -> Session:
    check_session_start(starts_at, edition.starts_on, edition.ends_on)
    return Session(id=str(uuid.uuid4()), edition_id=edition.id, kind=kind, title=title, capacity=capacity,
                   starts_at=starts_at.astimezone(UTC), created_at=now)


def check_enrollable(delegate: Delegate, session: Session) -> None:
    if delegate.status == DelegateStatus.cancelled:
        raise DelegateCancelled("a cancelled delegate cannot enrol", field="delegate_id")
    check_approved(delegate, "only an approved delegate can enrol", field="delegate_id")
    if delegate.edition_id != session.edition_id:
        raise WrongEdition("the delegate is registered for another edition than this session's", field="delegate_id")


def place_for_newcomer(*, capacity: int, taken_seats: set[int], waiting: int) -> int | None:
    """The seat a new enrolment takes (the lowest free one), or None: wait-list it.

    Those already waiting go first (FIFO): a newcomer never overtakes the wait-list, even if a seat
    were free (a freed seat is normally handed to the first waiting delegate at once)."""
    if waiting:
        return None
    for seat in range(1, capacity + 1):
        if seat not in taken_seats:
            return seat
    return None


def enrollment_changed(session: Session, delegate_id: str, state: EnrollmentState, counts: Counts, *,
                       previous: EnrollmentState | None, reason: EnrollmentReason) -> events.SessionEnrollmentChanged:
    return events.SessionEnrollmentChanged(
        session_id=session.id, edition_id=session.edition_id, delegate_id=delegate_id, state=state.value,
        enrolled=counts.enrolled, waitlisted=counts.waitlisted, capacity=session.capacity,
        previous_state=None if previous is None else previous.value, reason=reason.value, kind=session.kind.value)


def enroll(delegate: Delegate, session: Session, *, taken_seats: set[int], waiting: int, now: datetime
           ) -> tuple[EnrollmentStanding, Enrollment, events.SessionEnrollmentChanged]:
    """A newcomer's enrolment (the lowest free seat) or place at the end of the wait-list."""
    seat = place_for_newcomer(capacity=session.capacity, taken_seats=taken_seats, waiting=waiting)
    state = EnrollmentState.waitlisted if seat is None else EnrollmentState.enrolled
    enrollment = Enrollment(session_id=session.id, delegate_id=delegate.id, state=state, seat=seat,
                            requested_at=now, enrolled_at=None if seat is None else now)
    counts = Counts(len(taken_seats) + (seat is not None), waiting + (seat is None))
    standing = standing_of(enrollment, session, counts, position=waiting + 1 if seat is None else None)
    return standing, enrollment, enrollment_changed(session, delegate.id, state, counts, previous=None,
                                                    reason=EnrollmentReason.requested)


def standing_of(enrollment: Enrollment, session: Session, counts: Counts, *, position: int | None
                ) -> EnrollmentStanding:
    return EnrollmentStanding(
        session_id=session.id, delegate_id=enrollment.delegate_id, state=enrollment.state, position=position,
        requested_at=enrollment.requested_at, enrolled_at=enrollment.enrolled_at, enrolled=counts.enrolled,
        waitlisted=counts.waitlisted, capacity=session.capacity)


def leave(enrollment: Enrollment, session: Session, *, counts: Counts, reason: EnrollmentReason
          ) -> events.SessionEnrollmentChanged:
    """The event of a delegate gone from a session; ``counts`` are the session's once they are gone."""
    return enrollment_changed(session, enrollment.delegate_id, EnrollmentState.withdrawn, counts,
                              previous=enrollment.state, reason=reason)


def promote(first_waiting: Enrollment, session: Session, *, seat: int, counts: Counts, now: datetime
            ) -> tuple[Enrollment, Counts, events.SessionEnrollmentChanged]:
    """The first wait-listed delegate takes a freed seat; ``counts`` are the session's before that."""
    promoted = replace(first_waiting, state=EnrollmentState.enrolled, seat=seat, enrolled_at=now)
    after = Counts(counts.enrolled + 1, counts.waitlisted - 1)
    return promoted, after, enrollment_changed(session, promoted.delegate_id, EnrollmentState.enrolled, after,
                                               previous=EnrollmentState.waitlisted, reason=EnrollmentReason.promoted)
