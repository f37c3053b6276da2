"""Projects use cases on in-memory repositories: the record returned, the events committed, the error raised."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.projects import domain, service
from services.projects.domain import CaseStatus, Party
from services.projects.schemas import CaseCreate, ProjectAmend, ProjectCreate
from shared.events.projects import (
    CaseFeatured,
    CaseUnfeatured,
    ProjectAmended,
    ProjectPrevious,
    ProjectSigned,
    ProjectWithdrawn,
)
from shared.events.types import OrganizationStatus, ProjectStatus, Sector
from tests.support.fakes.projects import (
    EDITION,
    FakeCases,
    FakeProjects,
    FakeProjectsUnitOfWork,
    FakeReplicas,
    a_case,
    a_member,
    a_project,
)

D = Decimal


def nothing_committed(uow: FakeProjectsUnitOfWork) -> bool:
    return uow.commits == 0 and uow.committed_events == []


def signing(**changes: object) -> ProjectCreate:
    body: dict[str, object] = {
        "edition_id": EDITION.edition_id, "title": "Port expansion", "sector": "infrastructure",
        "amount": "1000000.00", "currency": "USD", "fx_rate_to_cny": "7.1234",
        "parties": [{"name": "Penang Port", "country": "MY", "organization_id": "org-1"},
                    {"name": "Chongqing Logistics", "country": "CN"},
                    {"name": "Kedah Works", "country": "MY"}]}
    return ProjectCreate.model_validate({**body, **changes})


def uow_with(*, projects: tuple[domain.Project, ...] = (), cases: tuple[domain.Case, ...] = (),
             members: tuple[domain.KnownOrganization, ...] = (a_member("org-1"),)) -> FakeProjectsUnitOfWork:
    return FakeProjectsUnitOfWork(projects=FakeProjects(*projects), cases=FakeCases(*cases),
                                  replicas=FakeReplicas(organizations=members))


# -- signing ----------------------------------------------------------------------------------------------


async def test_signing_records_the_exact_yuan_value_and_announces_the_project() -> None:
    uow = uow_with()
    project = await service.sign_project(uow=uow, request=signing())
    assert project.amount_cny == D("7123400.00") and project.status == ProjectStatus.signed
    assert project.parties[1] == Party("Chongqing Logistics", "CN", None)
    assert uow.projects.by_id[project.id] == project
    assert uow.committed_payloads == [ProjectSigned(
        project_id=project.id, edition_id=EDITION.edition_id, sector=Sector.infrastructure,
        status=ProjectStatus.signed, amount_cny=D("7123400.00"), currency="USD", countries=["CN", "MY"],
        organization_ids=["org-1"], title="Port expansion")]
    assert uow.committed_events[0].subject == project.id


async def test_a_project_of_an_edition_the_replica_does_not_know_is_refused() -> None:
    uow = uow_with()
    with pytest.raises(domain.UnknownEdition):
        await service.sign_project(uow=uow, request=signing(edition_id="edition-9"))
    assert nothing_committed(uow) and uow.projects.by_id == {}


@pytest.mark.parametrize(("members", "error"), [
    ((), domain.UnknownOrganization),
    ((a_member("org-1", OrganizationStatus.suspended),), domain.InactiveOrganization),
])
async def test_only_an_active_known_member_may_sign(members: tuple[domain.KnownOrganization, ...],
                                                   error: type[Exception]) -> None:
    uow = uow_with(members=members)
    with pytest.raises(error):
        await service.sign_project(uow=uow, request=signing())
    assert nothing_committed(uow) and uow.projects.by_id == {}


# -- amending ---------------------------------------------------------------------------------------------


async def test_an_amendment_reconverts_and_carries_old_and_new() -> None:
    uow = uow_with(projects=(a_project(),))
    project = await service.amend_project(uow=uow, project_id="project-1",
                                          request=ProjectAmend(amount=D("2000.00"), title="Solar farm II"))
    assert (project.amount, project.amount_cny, project.title) == (D("2000.00"), D("14200.00"), "Solar farm II")
    assert project.amended_at is not None and uow.projects.by_id["project-1"] == project
    [event] = uow.committed_payloads
    assert isinstance(event, ProjectAmended)
    assert event.amount_cny == D("14200.00") and event.title == "Solar farm II"
    assert event.previous == ProjectPrevious(sector=Sector.green_energy, status=ProjectStatus.signed,
                                             amount_cny=D("7100.00"), countries=["MY"], organization_ids=["org-1"])


async def test_an_amendment_that_changes_nothing_writes_nothing() -> None:
    before = a_project()
    uow = uow_with(projects=(before,))
    project = await service.amend_project(uow=uow, project_id="project-1", request=ProjectAmend(amount=D("1000.0")))
    assert project == before and nothing_committed(uow)


async def test_only_members_an_amendment_adds_must_be_active() -> None:
    suspended = (a_member("org-1", OrganizationStatus.suspended), a_member("org-2", OrganizationStatus.suspended))
    uow = uow_with(projects=(a_project(),), members=suspended)
    keeping = ProjectAmend.model_validate({"parties": [
        {"name": "Sunrise Sdn Bhd", "country": "MY", "organization_id": "org-1"}, {"name": "Dragon", "country": "CN"}]})
    project = await service.amend_project(uow=uow, project_id="project-1", request=keeping)
    assert project.countries == ["CN", "MY"]
    adding = ProjectAmend.model_validate({"parties": [{"name": "Other", "country": "MY", "organization_id": "org-2"}]})
    with pytest.raises(domain.InactiveOrganization):
        await service.amend_project(uow=uow, project_id="project-1", request=adding)
    assert uow.commits == 1 and uow.projects.by_id["project-1"] == project


async def test_a_withdrawn_project_cannot_be_amended() -> None:
    uow = uow_with(projects=(a_project(status=ProjectStatus.withdrawn),))
    with pytest.raises(domain.ProjectNotAmendable):
        await service.amend_project(uow=uow, project_id="project-1", request=ProjectAmend(title="New"))
    assert nothing_committed(uow)


async def test_changing_the_currency_without_a_rate_is_refused() -> None:
    uow = uow_with(projects=(a_project(),))
    with pytest.raises(domain.FxRateRequired):
        await service.amend_project(uow=uow, project_id="project-1", request=ProjectAmend(currency="EUR"))
    assert nothing_committed(uow) and uow.projects.by_id["project-1"] == a_project()


# -- withdrawing ------------------------------------------------------------------------------------------


async def test_withdrawing_announces_what_stops_counting_and_happens_once() -> None:
    uow = uow_with(projects=(a_project(),))
    project = await service.withdraw_project(uow=uow, project_id="project-1")
    assert project.status == ProjectStatus.withdrawn and project.withdrawn_at is not None
    [event] = uow.committed_payloads
    assert isinstance(event, ProjectWithdrawn)
    assert event.status == ProjectStatus.withdrawn and event.previous.status == ProjectStatus.signed
    assert event.amount_cny == D("7100.00") and event.countries == ["MY"]
    with pytest.raises(domain.ProjectAlreadyWithdrawn):
        await service.withdraw_project(uow=uow, project_id="project-1")
    assert uow.commits == 1


async def test_withdrawing_an_unknown_project_is_not_found() -> None:
    uow = uow_with()
    with pytest.raises(domain.ProjectNotFound):
        await service.withdraw_project(uow=uow, project_id="nope")
    assert nothing_committed(uow)


# -- the Top-10 cases -------------------------------------------------------------------------------------


def featuring(**changes: object) -> CaseCreate:
    body: dict[str, object] = {"edition_id": EDITION.edition_id, "rank": 2, "title": "A school in Ipoh",
                               "sector": "finance", "enterprise": "Ipoh Trust", "country": "MY",
                               "summary": "Scholarships.", "project_id": "project-1"}
    return CaseCreate.model_validate({**body, **changes})


async def test_featuring_a_case_linked_to_a_signed_project() -> None:
    uow = uow_with(projects=(a_project(),))
    case = await service.feature_case(uow=uow, request=featuring())
    assert case.status == CaseStatus.featured and case.rank == 2 and case.project_id == "project-1"
    assert uow.cases.by_id[case.id] == case
    assert uow.committed_payloads == [CaseFeatured(
        case_id=case.id, edition_id=EDITION.edition_id, rank=2, title="A school in Ipoh", sector=Sector.finance,
        enterprise="Ipoh Trust", country="MY", project_id="project-1")]


async def test_a_rank_held_by_a_featured_case_is_refused_naming_the_holder() -> None:
    uow = uow_with(projects=(a_project(),), cases=(a_case(id="holder", rank=2),))
    with pytest.raises(domain.RankTaken) as caught:
        await service.feature_case(uow=uow, request=featuring())
    assert caught.value.extra["case_id"] == "holder" and nothing_committed(uow)


@pytest.mark.parametrize(("project", "error"), [
    (a_project(id="other"), domain.UnknownProject),
    (a_project(edition_id="edition-2"), domain.CaseProjectNotEligible),
    (a_project(status=ProjectStatus.withdrawn), domain.CaseProjectNotEligible),
])
async def test_a_case_links_only_a_signed_project_of_its_own_edition(project: domain.Project,
                                                                     error: type[Exception]) -> None:
    uow = uow_with(projects=(project,))
    with pytest.raises(error):
        await service.feature_case(uow=uow, request=featuring())
    assert nothing_committed(uow) and uow.cases.by_id == {}


async def test_unfeaturing_frees_the_rank_once() -> None:
    uow = uow_with(cases=(a_case(rank=2),))
    case = await service.unfeature_case(uow=uow, case_id="case-1")
    assert case.status == CaseStatus.unfeatured and case.unfeatured_at is not None
    assert uow.committed_payloads == [CaseUnfeatured(case_id="case-1", edition_id=EDITION.edition_id, rank=2)]
    assert await uow.cases.rank_holder(EDITION.edition_id, 2) is None
    with pytest.raises(domain.CaseAlreadyUnfeatured):
        await service.unfeature_case(uow=uow, case_id="case-1")
    assert uow.commits == 1
