"""Events published by the network service on ``conference.network``.

Organisation events carry the member's countable state after the change (country, kind, status);
changes also carry the values before. Contact e-mails never enter an event.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from shared.events.types import CountryCode, OrganizationKind, OrganizationStatus


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class OrganizationState(_Payload):
    organization_id: str
    name: str
    country: CountryCode
    kind: OrganizationKind
    status: OrganizationStatus


class OrganizationPrevious(_Payload):
    country: CountryCode
    kind: OrganizationKind
    status: OrganizationStatus


class OrganizationJoined(OrganizationState):
    pass


class OrganizationUpdated(OrganizationState):
    previous: OrganizationPrevious


class OrganizationSuspended(OrganizationState):
    previous: OrganizationPrevious


class OrganizationReinstated(OrganizationState):
    previous: OrganizationPrevious


class OrganizationLeft(OrganizationState):
    previous: OrganizationPrevious
