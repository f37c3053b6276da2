"""Project rules, free of web and database code: exact money, references, transitions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from shared.errors import Conflict, DomainError, InvalidTransition, NotFound, UnknownReference
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


class ProjectNotAmendable(InvalidTransition):
    code = "project_withdrawn"
    title = "A withdrawn project cannot be amended"


class FxRateRequired(DomainError):
    status = 422
    code = "fx_rate_required"
    title = "Exchange rate required"


class FxRateNotApplicable(DomainError):
    status = 422
    code = "fx_rate_not_applicable"
    title = "No exchange rate for an amount in yuan"


class CaseNotFound(NotFound):
    code = "case_not_found"


class RankTaken(Conflict):
    code = "rank_taken"
    title = "That rank is already held by a featured case of the edition"


class CaseAlreadyUnfeatured(InvalidTransition):
    code = "already_unfeatured"


class UnknownProject(UnknownReference):
    code = "unknown_project"


class CaseProjectNotEligible(DomainError):
    status = 422
    code = "project_not_eligible"
    title = "The project cannot be linked to this case"


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


# -- amending ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    """What a project was signed for: the amount in its currency and, unless it is yuan, the rate."""

    amount: Decimal
    currency: str
    fx_rate_to_cny: Decimal | None

    @property
    def amount_cny(self) -> Decimal:
        return amount_in_cny(self.amount, self.currency, self.fx_rate_to_cny)


class _Unset:
    """Marks a field the amendment does not mention (``None`` is a value: "no rate")."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()


def check_amendable(status: ProjectStatus) -> None:
    # A withdrawn project no longer counts anywhere; amending it would change history that nobody
    # reads back and could not be undone by a reinstatement (there is none).
    if status == ProjectStatus.withdrawn:
        raise ProjectNotAmendable("the project was withdrawn; a withdrawn project cannot be amended")


def amended_price(current: Price, *, amount: Decimal | _Unset = UNSET, currency: str | _Unset = UNSET,
                  fx_rate_to_cny: Decimal | _Unset | None = UNSET) -> Price:
    """The price after an amendment that mentions some of ``amount``, ``currency``, ``fx_rate_to_cny``.

    The rate follows the currency: yuan has none (a rate of 1 is accepted and dropped); another
    currency keeps its rate unless a new one is given, and a *change* of currency needs a new rate,
    since the old one converts a different currency.
    """
    new_currency = current.currency if isinstance(currency, _Unset) else currency
    new_amount = current.amount if isinstance(amount, _Unset) else amount
    if new_currency == "CNY":
        if not isinstance(fx_rate_to_cny, _Unset) and fx_rate_to_cny not in (None, Decimal(1)):
            raise FxRateNotApplicable("fx_rate_to_cny must be omitted (or 1) for an amount in CNY",
                                      field="fx_rate_to_cny")
        rate = None
    elif isinstance(fx_rate_to_cny, _Unset):
        if new_currency != current.currency or current.fx_rate_to_cny is None:
            raise FxRateRequired(f"changing the currency to {new_currency} needs fx_rate_to_cny, the yuan per "
                                 f"unit of {new_currency}", field="fx_rate_to_cny")
        rate = current.fx_rate_to_cny
    elif fx_rate_to_cny is None:
        raise FxRateRequired(f"an amount in {new_currency} needs fx_rate_to_cny; it cannot be removed",
                             field="fx_rate_to_cny")
    else:
        rate = fx_rate_to_cny
    amount_in_cny(new_amount, new_currency, rate)  # raises AmountTooLarge now, before anything is written
    return Price(new_amount, new_currency, rate)


def added_organizations(before: Iterable[str], after: Iterable[str]) -> list[str]:
    """Members an amendment makes parties: only these must be active now. A member already party to
    the project stays on it even if it was suspended since (it signed while active)."""
    return sorted(set(after) - set(before))


# -- the Top-10 cases -------------------------------------------------------------------------------------


class CaseStatus(StrEnum):
    featured = "featured"
    unfeatured = "unfeatured"


def unfeature(status: CaseStatus) -> CaseStatus:
    if status == CaseStatus.unfeatured:
        raise CaseAlreadyUnfeatured("the case is already unfeatured")
    return CaseStatus.unfeatured


def check_case_project(project_id: str, *, case_edition_id: str, project_edition_id: str | None,
                       project_status: ProjectStatus | None) -> None:
    """A case may point at a project only if it is a signed project of the case's own edition."""
    if project_edition_id is None or project_status is None:
        raise UnknownProject(f"no project with id {project_id}", field="project_id")
    if project_edition_id != case_edition_id:
        raise CaseProjectNotEligible(f"project {project_id} was signed in another edition, not {case_edition_id}",
                                     field="project_id")
    if project_status != ProjectStatus.signed:
        raise CaseProjectNotEligible(f"project {project_id} is {project_status.value}; only a signed project "
                                     "can be linked to a case", field="project_id")


def check_rank_free(rank: int, holder_case_id: str | None) -> None:
    if holder_case_id is not None:
        raise RankTaken(f"rank {rank} is held by featured case {holder_case_id}; unfeature it first",
                        field="rank", case_id=holder_case_id)
