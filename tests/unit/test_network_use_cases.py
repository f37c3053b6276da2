"""Network use cases against in-memory repositories: the record returned, the events committed, the errors."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.network import domain, service
from services.network.schemas import OrganizationCreate, OrganizationUpdate
from shared.events.network import (
    OrganizationJoined,
    OrganizationLeft,
    OrganizationPrevious,
    OrganizationReinstated,
    OrganizationSuspended,
    OrganizationUpdated,
)
from shared.events.types import OrganizationKind, OrganizationStatus, ProjectStatus, Sector
from tests.support.fakes.network import FakeNetworkUnitOfWork, FakeOrganizationRepository, FakeSignedProjectRepository

JOINED = datetime(2026, 5, 20, 9, 0, tzinfo=UTC)
CHAMBER, ASSOCIATION = OrganizationKind.chamber_of_commerce, OrganizationKind.business_association
ACTIVE, SUSPENDED, LEFT = OrganizationStatus.active, OrganizationStatus.suspended, OrganizationStatus.left


def member(id: str = "o-1", *, name: str = "Chinese Chamber", country: str = "MY",
           status: OrganizationStatus = ACTIVE, contact_email: str | None = "office@chamber.my") -> domain.Organization:
    return domain.Organization(id=id, name=name, name_zh=None, country=country, kind=CHAMBER, city="Penang",
                               website=None, contact_email=contact_email, status=status, joined_at=JOINED)


def uow_with(*members: domain.Organization) -> FakeNetworkUnitOfWork:
    return FakeNetworkUnitOfWork(FakeOrganizationRepository(*members))


async def test_joining_makes_an_active_member_and_announces_it_without_contact_data() -> None:
    uow = uow_with()
    joined = await service.join(uow=uow, request=OrganizationCreate(
        name="Chinese Chamber", country="MY", kind=CHAMBER, website="https://chamber.my",
        contact_email="office@chamber.my"))
    assert (joined.status, joined.website, joined.contact_email) == (ACTIVE, "https://chamber.my/", "office@chamber.my")
    assert await uow.organizations.get(joined.id) == joined
    assert uow.committed_payloads == [OrganizationJoined(organization_id=joined.id, name="Chinese Chamber",
                                                         country="MY", kind=CHAMBER, status=ACTIVE)]
    assert uow.committed_events[0].subject == joined.id


async def test_a_name_already_current_in_that_country_is_refused_whatever_its_case() -> None:
    uow = uow_with(member())
    with pytest.raises(domain.DuplicateOrganization):
        await service.join(uow=uow, request=OrganizationCreate(name="  chinese   CHAMBER", country="MY",
                                                               kind=CHAMBER))
    assert uow.committed_events == [] and list(uow.organizations.rows) == ["o-1"]


async def test_a_former_members_name_is_free_again_and_other_countries_never_clash() -> None:
    uow = uow_with(member(status=LEFT), member("o-2", country="SG"))
    joined = await service.join(uow=uow, request=OrganizationCreate(name="Chinese Chamber", country="MY",
                                                                    kind=CHAMBER))
    assert joined.status == ACTIVE and len(uow.committed_events) == 1


async def test_renaming_announces_the_new_and_previous_countable_state() -> None:
    uow = uow_with(member())
    updated = await service.update(uow=uow, organization_id="o-1",
                                   request=OrganizationUpdate(name="Penang Chamber", kind=ASSOCIATION))
    assert (updated.name, updated.kind, updated.city) == ("Penang Chamber", ASSOCIATION, "Penang")
    assert updated.updated_at is not None
    assert uow.committed_payloads == [OrganizationUpdated(
        organization_id="o-1", name="Penang Chamber", country="MY", kind=ASSOCIATION, status=ACTIVE,
        previous=OrganizationPrevious(country="MY", kind=CHAMBER, status=ACTIVE))]


async def test_changing_contact_details_only_is_saved_without_an_event() -> None:
    uow = uow_with(member())
    updated = await service.update(uow=uow, organization_id="o-1",
                                   request=OrganizationUpdate(contact_email=None, city="George Town"))
    assert (updated.contact_email, updated.city) == (None, "George Town")
    assert uow.organizations.rows["o-1"] == updated
    assert uow.commits == 1 and uow.committed_events == []


async def test_an_update_that_changes_nothing_writes_nothing() -> None:
    original = member()
    uow = uow_with(original)
    assert await service.update(uow=uow, organization_id="o-1",
                                request=OrganizationUpdate(name="Chinese Chamber", city="Penang")) is original
    assert uow.commits == 0 and uow.organizations.saved == []


async def test_moving_onto_a_current_members_name_is_refused() -> None:
    uow = uow_with(member(), member("o-2", country="SG"))
    with pytest.raises(domain.DuplicateOrganization):
        await service.update(uow=uow, organization_id="o-2", request=OrganizationUpdate(country="MY"))
    assert uow.committed_events == [] and uow.organizations.rows["o-2"].country == "SG"


async def test_a_former_member_cannot_be_edited() -> None:
    uow = uow_with(member(status=LEFT))
    with pytest.raises(domain.AlreadyLeft):
        await service.update(uow=uow, organization_id="o-1", request=OrganizationUpdate(city="Ipoh"))
    assert uow.commits == 0


async def test_suspend_then_reinstate_each_announce_the_change() -> None:
    uow = uow_with(member())
    assert (await service.suspend(uow=uow, organization_id="o-1")).status == SUSPENDED
    assert (await service.reinstate(uow=uow, organization_id="o-1")).status == ACTIVE
    state = {"organization_id": "o-1", "name": "Chinese Chamber", "country": "MY", "kind": CHAMBER}
    assert uow.committed_payloads == [
        OrganizationSuspended(**state, status=SUSPENDED,
                              previous=OrganizationPrevious(country="MY", kind=CHAMBER, status=ACTIVE)),
        OrganizationReinstated(**state, status=ACTIVE,
                               previous=OrganizationPrevious(country="MY", kind=CHAMBER, status=SUSPENDED))]


async def test_leaving_is_final_and_dated() -> None:
    uow = uow_with(member(status=SUSPENDED))
    former = await service.leave(uow=uow, organization_id="o-1")
    assert former.status == LEFT and former.left_at is not None
    assert isinstance(uow.committed_payloads[0], OrganizationLeft)
    assert uow.committed_payloads[0].previous.status == SUSPENDED
    with pytest.raises(domain.AlreadyLeft):
        await service.leave(uow=uow, organization_id="o-1")
    with pytest.raises(domain.AlreadyLeft):
        await service.reinstate(uow=uow, organization_id="o-1")
    assert len(uow.committed_events) == 1


@pytest.mark.parametrize(("use_case", "status", "error"), [
    (service.suspend, SUSPENDED, domain.AlreadySuspended),
    (service.reinstate, ACTIVE, domain.NotSuspended),
])
async def test_a_transition_from_the_wrong_state_changes_nothing(use_case: object, status: OrganizationStatus,
                                                                 error: type[Exception]) -> None:
    uow = uow_with(member(status=status))
    with pytest.raises(error):
        await use_case(uow=uow, organization_id="o-1")  # type: ignore[operator]
    assert uow.commits == 0 and uow.organizations.rows["o-1"].status == status


async def test_an_unknown_member_is_not_found() -> None:
    with pytest.raises(domain.OrganizationNotFound):
        await service.suspend(uow=uow_with(), organization_id="nobody")


async def test_a_member_shows_its_projects_and_the_value_still_signed() -> None:
    def project(project_id: str, status: ProjectStatus, amount: str) -> domain.SignedProject:
        return domain.SignedProject(organization_id="o-1", project_id=project_id, edition_id="e-1", title=None,
                                    sector=Sector.energy, status=status, amount_cny=Decimal(amount),
                                    updated_at=JOINED)

    projects = FakeSignedProjectRepository(project("p-2", ProjectStatus.withdrawn, "5.00"),
                                           project("p-1", ProjectStatus.signed, "0.10"))
    detail = await service.get_organization(organizations=FakeOrganizationRepository(member()),
                                            signed_projects=projects, organization_id="o-1")
    assert detail.organization == member()
    assert [p.project_id for p in detail.projects] == ["p-1", "p-2"]
    assert detail.signed_amount_cny == Decimal("0.10")


async def test_the_directory_pages_in_id_order_and_the_figures_count_active_members() -> None:
    organizations = FakeOrganizationRepository(member("o-3", country="SG"), member("o-1"),
                                               member("o-2", name="Other", status=SUSPENDED))
    first, cursor = await service.list_organizations(organizations=organizations, country=None, kind=None,
                                                     status=None, limit=2, cursor=None)
    rest, end = await service.list_organizations(organizations=organizations, country=None, kind=None,
                                                 status=None, limit=2, cursor=cursor)
    assert [m.id for m in first + rest] == ["o-1", "o-2", "o-3"] and end is None
    figures = await service.network_figures(organizations=organizations)
    assert (figures.organizations, figures.countries) == (2, 2)
