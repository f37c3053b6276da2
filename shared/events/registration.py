"""Events published by the registration service on ``conference.registration``.

Every delegate event carries the delegate's countable state *after* the change (edition, country,
category, status), so a consumer can move a count from old to new; changes also carry the values
before. Nothing personal (e-mail, phone, names) ever enters an event.
"""

from __future__ import annotations

from datetime import date

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


class DelegateState(_Payload):
    """The countable facts about a delegate."""

    delegate_id: str
    edition_id: str
    country: CountryCode
    category: DelegateCategory
    status: DelegateStatus


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
    pass


class SessionEnrollmentChanged(_Payload):
    session_id: str
    edition_id: str
    delegate_id: str
    state: str = Field(description="`enrolled`, `waitlisted` or `withdrawn`.")
    enrolled: int = Field(ge=0)
    waitlisted: int = Field(ge=0)
    capacity: int = Field(ge=0)
