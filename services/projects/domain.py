"""Project rules, free of web and database code: exact money, references, transitions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from shared.errors import Conflict, DomainError, InvalidTransition, NotFound, UnknownReference
from shared.events.projects import (
    CaseFeatured,
    CaseUnfeatured,
    ProjectAmended,
    ProjectPrevious,
    ProjectSigned,
    ProjectWithdrawn,
)
from shared.events.types import Host, OrganizationStatus, ProjectStatus, Sector

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


# -- the replicas: what this service knows of other services' records, from their events ------------------


@dataclass(frozen=True)
class KnownEdition:
    """An edition registration opened (from `edition_opened`): projects and cases may name it."""

    edition_id: str
    number: int
    host: Host


@dataclass(frozen=True)
class KnownOrganization:
    """A network member as its latest `organization_*` event left it."""

    organization_id: str
    country: str
    status: OrganizationStatus


def check_members_active(organization_ids: Iterable[str], members: Mapping[str, KnownOrganization]) -> None:
    """Each of ``organization_ids`` is an active member according to ``members`` (the replica's rows)."""
    for organization_id in organization_ids:
        member = members.get(organization_id)
        check_member_active(organization_id, member.status if member else None)


# -- projects ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    name: str
    country: str
    organization_id: str | None


def organization_ids(parties: Iterable[Party]) -> list[str]:
    """The network members among ``parties``, distinct and sorted (as events carry them)."""
    return sorted({p.organization_id for p in parties if p.organization_id})


@dataclass(frozen=True)
class Project:
    id: str
    edition_id: str
    title: str
    sector: Sector
    amount: Decimal
    currency: str
    fx_rate_to_cny: Decimal | None
    amount_cny: Decimal
    status: ProjectStatus
    signed_on: date | None
    created_at: datetime
    amended_at: datetime | None
    withdrawn_at: datetime | None
    parties: tuple[Party, ...]

    @property
    def countries(self) -> list[str]:
        return party_countries(p.country for p in self.parties)

    @property
    def organization_ids(self) -> list[str]:
        return organization_ids(self.parties)

    @property
    def price(self) -> Price:
        return Price(self.amount, self.currency, self.fx_rate_to_cny)

    def previous(self) -> ProjectPrevious:
        """The countable state of the project, as an event's ``previous`` carries it."""
        return ProjectPrevious(sector=self.sector, status=self.status, amount_cny=self.amount_cny,
                               countries=self.countries, organization_ids=self.organization_ids)

    def state(self) -> dict[str, object]:
        """The fields of :class:`ProjectState` the project's events share."""
        return {"project_id": self.id, "edition_id": self.edition_id, "sector": self.sector, "status": self.status,
                "amount_cny": self.amount_cny, "currency": self.currency, "countries": self.countries,
                "organization_ids": self.organization_ids, "title": self.title}


def sign(*, project_id: str, edition: KnownEdition, members: Mapping[str, KnownOrganization], title: str,
         sector: Sector, price: Price, parties: Iterable[Party], signed_on: date | None,
         now: datetime) -> tuple[Project, ProjectSigned]:
    """A project signed in ``edition`` by ``parties``; the members among them must be active now."""
    parties = tuple(parties)
    check_members_active(organization_ids(parties), members)
    project = Project(id=project_id, edition_id=edition.edition_id, title=title, sector=sector, amount=price.amount,
                      currency=price.currency, fx_rate_to_cny=price.fx_rate_to_cny, amount_cny=price.amount_cny,
                      status=ProjectStatus.signed, signed_on=signed_on, created_at=now, amended_at=None,
                      withdrawn_at=None, parties=parties)
    return project, ProjectSigned.model_validate(project.state())


def withdraw(project: Project, *, now: datetime) -> tuple[Project, ProjectWithdrawn]:
    if project.status == ProjectStatus.withdrawn:
        raise ProjectAlreadyWithdrawn("the project is already withdrawn")
    withdrawn = replace(project, status=ProjectStatus.withdrawn, withdrawn_at=now)
    return withdrawn, ProjectWithdrawn.model_validate({**withdrawn.state(), "previous": project.previous()})


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


@dataclass(frozen=True)
class Amendment:
    """The fields an amendment mentions; ``UNSET`` ones keep their value, ``parties`` replaces the list."""

    title: str | _Unset = UNSET
    sector: Sector | _Unset = UNSET
    amount: Decimal | _Unset = UNSET
    currency: str | _Unset = UNSET
    fx_rate_to_cny: Decimal | _Unset | None = UNSET
    parties: tuple[Party, ...] | _Unset = UNSET
    signed_on: date | _Unset | None = UNSET

    def added_organizations(self, project: Project) -> list[str]:
        """The members this amendment would add to ``project``: those whose state must be known."""
        if isinstance(self.parties, _Unset):
            return []
        return added_organizations(project.organization_ids, organization_ids(self.parties))


def amend(project: Project, amendment: Amendment, *, members: Mapping[str, KnownOrganization],
          now: datetime) -> tuple[Project, ProjectAmended | None]:
    """The project after ``amendment`` and its `project_amended` event; an amendment that changes
    nothing gives the project unchanged and no event. ``members``: the added members' replica rows."""
    check_amendable(project.status)
    price = amended_price(project.price, amount=amendment.amount, currency=amendment.currency,
                          fx_rate_to_cny=amendment.fx_rate_to_cny)
    check_members_active(amendment.added_organizations(project), members)
    # A field takes its new value only if it differs: 100.5 and 100.50 are the same amount.
    changes: dict[str, object] = {name: value for name, value in (
        ("amount", price.amount), ("currency", price.currency), ("fx_rate_to_cny", price.fx_rate_to_cny),
        ("amount_cny", price.amount_cny), ("title", amendment.title), ("sector", amendment.sector),
        ("signed_on", amendment.signed_on), ("parties", amendment.parties),
    ) if not isinstance(value, _Unset) and getattr(project, name) != value}
    if not changes:
        return project, None
    amended = replace(project, **changes, amended_at=now)  # type: ignore[arg-type]
    return amended, ProjectAmended.model_validate({**amended.state(), "previous": project.previous()})


# -- the Top-10 cases -------------------------------------------------------------------------------------


class CaseStatus(StrEnum):
    featured = "featured"
    unfeatured = "unfeatured"


@dataclass(frozen=True)
class Case:
    id: str
    edition_id: str
    rank: int
    title: str
    sector: Sector
    enterprise: str
    country: str
    summary: str
    project_id: str | None
    status: CaseStatus
    created_at: datetime
    unfeatured_at: datetime | None


@dataclass(frozen=True)
class ProjectStanding:
    """What a case needs to know of the project it links: its edition and whether it still stands."""

    edition_id: str
    status: ProjectStatus


def feature(*, case_id: str, edition: KnownEdition, rank: int, title: str, sector: Sector, enterprise: str,
            country: str, summary: str, project_id: str | None, project: ProjectStanding | None,
            rank_holder: str | None, now: datetime) -> tuple[Case, CaseFeatured]:
    """A case featured at ``rank`` of ``edition``; ``project``: the linked project (None if not found),
    ``rank_holder``: the featured case holding the rank now, if any."""
    if project_id is not None:
        check_case_project(project_id, case_edition_id=edition.edition_id,
                           project_edition_id=project.edition_id if project else None,
                           project_status=project.status if project else None)
    check_rank_free(rank, rank_holder)
    case = Case(id=case_id, edition_id=edition.edition_id, rank=rank, title=title, sector=sector,
                enterprise=enterprise, country=country, summary=summary, project_id=project_id,
                status=CaseStatus.featured, created_at=now, unfeatured_at=None)
    return case, CaseFeatured(case_id=case.id, edition_id=case.edition_id, rank=case.rank, title=case.title,
                              sector=case.sector, enterprise=case.enterprise, country=case.country,
                              project_id=case.project_id)


def unfeature(case: Case, *, now: datetime) -> tuple[Case, CaseUnfeatured]:
    if case.status == CaseStatus.unfeatured:
        raise CaseAlreadyUnfeatured("the case is already unfeatured")
    unfeatured = replace(case, status=CaseStatus.unfeatured, unfeatured_at=now)
    return unfeatured, CaseUnfeatured(case_id=case.id, edition_id=case.edition_id, rank=case.rank)


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
