"""Registration rules, free of web and database code."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from shared.errors import Conflict, DomainError, InvalidTransition, NotFound, UnknownReference
from shared.events.types import CountryCode, DelegateCategory, DelegateStatus, Host

ROTATION = (Host.chongqing, Host.sichuan)
# A session's start (UTC) may fall a day either side of its edition's dates: 08:00 in Chengdu on
# the first day is still the previous day in UTC, and a field visit may run the day after.
SESSION_DATE_GRACE = timedelta(days=1)


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


# -- editions -----------------------------------------------------------------------------------------------


def host_after(previous: Host | None) -> Host:
    """The Sichuan–Chongqing rotation: the first edition is in Chongqing, then they alternate."""
    if previous is None:
        return ROTATION[0]
    return ROTATION[(ROTATION.index(previous) + 1) % len(ROTATION)]


def check_edition_dates(year: int, starts_on: date, ends_on: date) -> None:
    if ends_on < starts_on:
        raise InvalidEditionDates(f"ends_on ({ends_on}) is before starts_on ({starts_on})")
    if starts_on.year != year:
        raise InvalidEditionDates(f"starts_on ({starts_on}) is not in the edition's year {year}")


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


# -- delegates ----------------------------------------------------------------------------------------------


def normalize_email(email: str) -> str:
    return email.strip().lower()


def new_badge_code() -> str:
    """An unguessable QR payload (128 bits)."""
    return secrets.token_urlsafe(16)


def cancel(status: DelegateStatus) -> DelegateStatus:
    if status == DelegateStatus.cancelled:
        raise DelegateAlreadyCancelled("the delegate is already cancelled")
    return DelegateStatus.cancelled


def counts_as_registered(status: DelegateStatus) -> bool:
    """`registered` in /stats counts every delegate not cancelled (checked-in ones included)."""
    return status != DelegateStatus.cancelled


def check_changeable(status: DelegateStatus, cancelled_at: datetime | None) -> None:
    """A cancelled registration is closed: register again rather than edit it."""
    if status == DelegateStatus.cancelled:
        when = f" at {rfc3339(cancelled_at)}" if cancelled_at else ""
        raise DelegateCancelled(f"the registration was cancelled{when} and can no longer be changed",
                                cancelled_at=rfc3339(cancelled_at) if cancelled_at else None)


@dataclass(frozen=True)
class CountableState:
    """What the dashboard counts by: a change of any of these is announced by an event."""

    country: CountryCode
    category: DelegateCategory
    status: DelegateStatus


def countable_change(before: CountableState, after: CountableState) -> bool:
    return before != after


def check_in(status: DelegateStatus, *, checked_in_at: datetime | None, cancelled_at: datetime | None
             ) -> DelegateStatus:
    """A badge checks in once; a repeat scan names when the first one happened."""
    if status == DelegateStatus.checked_in:
        when = rfc3339(checked_in_at) if checked_in_at else "earlier"
        raise AlreadyCheckedIn(f"this badge was already checked in at {when}",
                               checked_in_at=rfc3339(checked_in_at) if checked_in_at else None)
    if status == DelegateStatus.cancelled:
        when = f" at {rfc3339(cancelled_at)}" if cancelled_at else ""
        raise DelegateCancelled(f"this badge belongs to a registration cancelled{when}; send the delegate "
                                "to the registration desk",
                                cancelled_at=rfc3339(cancelled_at) if cancelled_at else None)
    return DelegateStatus.checked_in


def check_badge_edition(badge_edition: str, scanned_for: str | None) -> None:
    """A scanner set up for one edition refuses last year's badge."""
    if scanned_for is not None and scanned_for != badge_edition:
        raise WrongEdition("this badge belongs to another edition of the conference", field="edition_id")


# -- sessions -----------------------------------------------------------------------------------------------


def check_session_start(starts_at: datetime, edition_starts_on: date, edition_ends_on: date) -> None:
    day = starts_at.date()
    if not (edition_starts_on - SESSION_DATE_GRACE <= day <= edition_ends_on + SESSION_DATE_GRACE):
        raise InvalidSessionStart(
            f"starts_at ({starts_at.isoformat()}) is not during the edition ({edition_starts_on} to {edition_ends_on},"
            " a day's grace either side)", field="starts_at")


def check_enrollable(*, delegate_status: DelegateStatus, delegate_edition: str, session_edition: str) -> None:
    if delegate_status == DelegateStatus.cancelled:
        raise DelegateCancelled("a cancelled delegate cannot enrol", field="delegate_id")
    if delegate_edition != session_edition:
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
