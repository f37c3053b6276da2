"""Project rules, free of web and database code: exact money, references, transitions."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from shared.errors import DomainError, InvalidTransition, NotFound, UnknownReference
from shared.events.types import OrganizationStatus, ProjectStatus

FEN = Decimal("0.01")


class ProjectNotFound(NotFound):
    code = "project_not_found"


class UnknownEdition(UnknownReference):
    code = "unknown_edition"


class UnknownOrganization(UnknownReference):
    code = "unknown_organization"


class InactiveOrganization(DomainError):
    status = 422
    code = "organization_not_active"
    title = "Organisation is not an active network member"


class ProjectAlreadyWithdrawn(InvalidTransition):
    code = "already_withdrawn"


class AmountTooLarge(DomainError):
    status = 422
    code = "amount_too_large"
    title = "Amount too large"


# The largest amount (and yuan value) a project may record. Far above any real agreement, and low
# enough that the dashboard's counters (64-bit integers of fen) still hold the sum of ~90,000 of them.
MAX_AMOUNT_CNY = Decimal("999999999999999.99")


def amount_in_cny(amount: Decimal, currency: str, fx_rate_to_cny: Decimal | None) -> Decimal:
    """The amount in yuan, exact to the fen (schemas guarantee a rate for non-CNY amounts)."""
    if currency == "CNY":
        value = amount.quantize(FEN, rounding=ROUND_HALF_UP)
    else:
        assert fx_rate_to_cny is not None
        value = (amount * fx_rate_to_cny).quantize(FEN, rounding=ROUND_HALF_UP)
    if value > MAX_AMOUNT_CNY:
        raise AmountTooLarge(f"{amount} {currency} is {value} yuan, more than the {MAX_AMOUNT_CNY} yuan a project "
                             "can record", field="amount")
    return value


def party_countries(countries: Iterable[str]) -> list[str]:
    """Distinct countries among the parties, sorted: a project counts once per country."""
    return sorted(set(countries))


def check_member_active(organization_id: str, status: OrganizationStatus | None) -> None:
    if status is None:
        raise UnknownOrganization(
            f"organization_id {organization_id} is not known to the projects service; if it joined the "
            "network a moment ago, retry shortly", field="parties")
    if status != OrganizationStatus.active:
        raise InactiveOrganization(f"organization {organization_id} is {status.value}, not an active member",
                                   field="parties")


def withdraw(status: ProjectStatus) -> ProjectStatus:
    if status == ProjectStatus.withdrawn:
        raise ProjectAlreadyWithdrawn("the project is already withdrawn")
    return ProjectStatus.withdrawn
