"""Events published by the registration service on ``conference.registration``.

Every delegate event carries the delegate's countable state *after* the change (edition, country,
category, status), so a consumer can move a count from old to new; changes also carry the values
before. Nothing personal (e-mail, phone, names) ever enters an event.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.events.types import CountryCode, DelegateCategory, DelegateStatus, Host


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class EditionOpened(_Payload):
    edition_id: str
    number: int = Field(ge=1)
    year: int
    host: Host
    city: str | None = None
    theme: str | None = None
    starts_on: date
    ends_on: date
    # Added after v1 shipped; optional so that events written before still parse.
    co_hosts: list[str] = Field(default_factory=list, description="Co-hosting bodies, in the organisers' order.")


class DelegateState(_Payload):
    """The countable facts about a delegate."""

    delegate_id: str
    edition_id: str
    country: CountryCode
    category: DelegateCategory
    status: DelegateStatus
    # Both added after v1 shipped (the dashboard's timeline); optional so that events written before still parse.
    registered_at: datetime | None = Field(default=None, description="When the delegate registered (UTC).")
    checked_in_at: datetime | None = Field(default=None, description="When the badge was scanned (UTC), once "
                                           "it was; carried by every later event of the delegate too.")


class DelegateRegistered(DelegateState):
    pass


class DelegatePrevious(_Payload):
    country: CountryCode
    category: DelegateCategory
    status: DelegateStatus


class DelegateUpdated(DelegateState):
    previous: DelegatePrevious


class DelegateCancelled(DelegateState):
    previous: DelegatePrevious


class DelegateCheckedIn(DelegateState):
    # Both added after v1 shipped; optional so that events written before still parse.
    previous: DelegatePrevious | None = None


class DelegateApproved(DelegateState):
    """A registrar approved a pending self-registration: from now on the delegate counts as registered."""

    previous: DelegatePrevious


class DelegateRejected(DelegateState):
    """A registrar turned down a pending self-registration (the reason stays in the registration service:
    free text about a person is personal data)."""

    previous: DelegatePrevious


class DelegateErased(DelegateState):
    """The delegate's personal data was erased on request or by retention (PIPL Art. 47, GDPR Art. 17): the
    counts stay; integrators must drop whatever personal data of this delegate they hold (docs/integrators.md)."""

    erased_at: datetime


class SessionEnrollmentChanged(_Payload):
    session_id: str
    edition_id: str
    delegate_id: str
    state: str = Field(description="`enrolled`, `waitlisted` or `withdrawn`.")
    enrolled: int = Field(ge=0)
    waitlisted: int = Field(ge=0)
    capacity: int = Field(ge=0)
    # Added after v1 shipped; optional so that events written before still parse.
    previous_state: str | None = Field(default=None, description="`enrolled`, `waitlisted` or null (new).")
    reason: str | None = Field(default=None, description="`requested`, `withdrawn`, `promoted` (from the "
                               "wait-list) or `delegate_cancelled`.")
    kind: str | None = Field(default=None, description="`forum` or `field_visit`.")
