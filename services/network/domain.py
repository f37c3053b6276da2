"""Membership rules of the Collaboration Network, free of web and database code."""

from __future__ import annotations

from shared.errors import Conflict, InvalidTransition, NotFound
from shared.events.types import OrganizationStatus


class OrganizationNotFound(NotFound):
    code = "organization_not_found"


class DuplicateOrganization(Conflict):
    code = "duplicate_organization"
    title = "An organisation of that name already exists in that country"


class AlreadyLeft(InvalidTransition):
    code = "already_left"


def normalize_name(name: str) -> str:
    return " ".join(name.split()).casefold()


def leave(status: OrganizationStatus) -> OrganizationStatus:
    if status == OrganizationStatus.left:
        raise AlreadyLeft("the organisation has already left the network")
    return OrganizationStatus.left


def counts_as_member(status: OrganizationStatus) -> bool:
    return status == OrganizationStatus.active
