"""Membership rules of the Collaboration Network, free of web and database code.

The lifecycle: join -> active; active <-> suspended (suspend / reinstate); active or suspended ->
left (leave). ``left`` is final for that record: a returning organisation joins again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from shared.errors import Conflict, InvalidTransition, NotFound
from shared.events.network import (
    OrganizationJoined,
    OrganizationLeft,
    OrganizationPrevious,
    OrganizationReinstated,
    OrganizationSuspended,
    OrganizationUpdated,
)
from shared.events.types import OrganizationKind, OrganizationStatus, ProjectStatus, Sector


class OrganizationNotFound(NotFound):
    code = "organization_not_found"


class DuplicateOrganization(Conflict):
    code = "duplicate_organization"
    title = "An organisation of that name already exists in that country"


class AlreadyLeft(InvalidTransition):
    code = "already_left"


class AlreadySuspended(InvalidTransition):
    code = "already_suspended"


class NotSuspended(InvalidTransition):
    code = "not_suspended"


def normalize_name(name: str) -> str:
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class DirectoryEntry:
    """What a member says about itself in the directory (everything but its id and membership state)."""

    name: str
    name_zh: str | None
    country: str
    kind: OrganizationKind
    city: str | None
    website: str | None
    contact_email: str | None


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    name_zh: str | None
    country: str
    kind: OrganizationKind
    city: str | None
    website: str | None
    contact_email: str | None
    status: OrganizationStatus
    joined_at: datetime
    left_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def name_normalized(self) -> str:
        return normalize_name(self.name)


@dataclass(frozen=True)
class SignedProject:
    """A project a member is a party to, as the projects topic last described it."""

    organization_id: str
    project_id: str
    edition_id: str
    title: str | None
    sector: Sector
    status: ProjectStatus
    amount_cny: Decimal
    updated_at: datetime


def _previous(organization: Organization) -> OrganizationPrevious:
    return OrganizationPrevious(country=organization.country, kind=organization.kind, status=organization.status)


def _refuse_if_left(status: OrganizationStatus, doing: str) -> None:
    if status == OrganizationStatus.left:
        raise AlreadyLeft(f"the organisation has left the network and cannot be {doing}; "
                          "if it comes back, it joins again")


def join(*, organization_id: str, entry: DirectoryEntry, now: datetime) -> tuple[Organization, OrganizationJoined]:
    member = Organization(id=organization_id, name=entry.name, name_zh=entry.name_zh, country=entry.country,
                          kind=entry.kind, city=entry.city, website=entry.website,
                          contact_email=entry.contact_email, status=OrganizationStatus.active, joined_at=now)
    return member, OrganizationJoined(organization_id=member.id, name=member.name, country=member.country,
                                      kind=member.kind, status=member.status)


def update(organization: Organization, entry: DirectoryEntry, *, now: datetime
           ) -> tuple[Organization, OrganizationUpdated | None]:
    """The entry with ``entry``'s values; the same record back when nothing changes (nothing to write).
    The event carries name, country and kind (no contact data): only a change to those is news."""
    check_editable(organization.status)
    changed = replace(organization, name=entry.name, name_zh=entry.name_zh, country=entry.country,
                      kind=entry.kind, city=entry.city, website=entry.website, contact_email=entry.contact_email)
    if changed == organization:
        return organization, None
    changed = replace(changed, updated_at=now)
    if (changed.name, changed.country, changed.kind) == (organization.name, organization.country, organization.kind):
        return changed, None
    return changed, OrganizationUpdated(
        organization_id=changed.id, name=changed.name, country=changed.country, kind=changed.kind,
        status=changed.status, previous=_previous(organization))


def leave(organization: Organization, *, now: datetime) -> tuple[Organization, OrganizationLeft]:
    if organization.status == OrganizationStatus.left:
        raise AlreadyLeft("the organisation has already left the network")
    former = replace(organization, status=OrganizationStatus.left, left_at=now, updated_at=now)
    return former, OrganizationLeft(organization_id=former.id, name=former.name, country=former.country,
                                    kind=former.kind, status=former.status, previous=_previous(organization))


def suspend(organization: Organization, *, now: datetime) -> tuple[Organization, OrganizationSuspended]:
    _refuse_if_left(organization.status, "suspended")
    if organization.status == OrganizationStatus.suspended:
        raise AlreadySuspended("the organisation is already suspended")
    suspended = replace(organization, status=OrganizationStatus.suspended, updated_at=now)
    return suspended, OrganizationSuspended(
        organization_id=suspended.id, name=suspended.name, country=suspended.country, kind=suspended.kind,
        status=suspended.status, previous=_previous(organization))


def reinstate(organization: Organization, *, now: datetime) -> tuple[Organization, OrganizationReinstated]:
    _refuse_if_left(organization.status, "reinstated")
    if organization.status != OrganizationStatus.suspended:
        raise NotSuspended(f"only a suspended member can be reinstated; this one is {organization.status.value}")
    active = replace(organization, status=OrganizationStatus.active, updated_at=now)
    return active, OrganizationReinstated(
        organization_id=active.id, name=active.name, country=active.country, kind=active.kind,
        status=active.status, previous=_previous(organization))


def check_editable(status: OrganizationStatus) -> None:
    # A former member's entry is history (its country and kind are what it signed under).
    _refuse_if_left(status, "changed")


def counts_as_member(status: OrganizationStatus) -> bool:
    return status == OrganizationStatus.active


def signed_amount(projects: Iterable[tuple[ProjectStatus, Decimal]]) -> Decimal:
    """What a member signed: the yuan value of its projects that are still signed (withdrawn ones not)."""
    return sum((amount for status, amount in projects if status == ProjectStatus.signed), Decimal("0.00"))
