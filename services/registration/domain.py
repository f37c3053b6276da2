"""Registration rules, free of web and database code."""

from __future__ import annotations

import secrets
from datetime import date

from shared.errors import Conflict, DomainError, InvalidTransition, NotFound, UnknownReference
from shared.events.types import DelegateStatus, Host

ROTATION = (Host.chongqing, Host.sichuan)


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


class DuplicateEmail(Conflict):
    code = "duplicate_email"
    title = "E-mail already registered for this edition"


class DelegateAlreadyCancelled(InvalidTransition):
    code = "already_cancelled"


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
