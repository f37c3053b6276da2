"""Membership rules of the Collaboration Network, free of web and database code.

The lifecycle: join -> active; active <-> suspended (suspend / reinstate); active or suspended ->
left (leave). ``left`` is final for that record: a returning organisation joins again.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from shared.errors import Conflict, InvalidTransition, NotFound
from shared.events.types import OrganizationStatus, ProjectStatus


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


def _refuse_if_left(status: OrganizationStatus, doing: str) -> None:
    if status == OrganizationStatus.left:
        raise AlreadyLeft(f"the organisation has left the network and cannot be {doing}; "
                          "if it comes back, it joins again")


def leave(status: OrganizationStatus) -> OrganizationStatus:
    if status == OrganizationStatus.left:
        raise AlreadyLeft("the organisation has already left the network")
    return OrganizationStatus.left


def suspend(status: OrganizationStatus) -> OrganizationStatus:
    _refuse_if_left(status, "suspended")
    if status == OrganizationStatus.suspended:
        raise AlreadySuspended("the organisation is already suspended")
    return OrganizationStatus.suspended


def reinstate(status: OrganizationStatus) -> OrganizationStatus:
    _refuse_if_left(status, "reinstated")
    if status != OrganizationStatus.suspended:
        raise NotSuspended(f"only a suspended member can be reinstated; this one is {status.value}")
    return OrganizationStatus.active


def check_editable(status: OrganizationStatus) -> None:
    # A former member's entry is history (its country and kind are what it signed under).
    _refuse_if_left(status, "changed")


def counts_as_member(status: OrganizationStatus) -> bool:
    return status == OrganizationStatus.active


def signed_amount(projects: Iterable[tuple[ProjectStatus, Decimal]]) -> Decimal:
    """What a member signed: the yuan value of its projects that are still signed (withdrawn ones not)."""
    return sum((amount for status, amount in projects if status == ProjectStatus.signed), Decimal("0.00"))
