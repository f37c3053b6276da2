"""In-memory repositories and unit of work of the projects service, and records to start tests from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from services.projects.domain import (
    Case,
    CaseNotFound,
    CaseStatus,
    KnownEdition,
    KnownOrganization,
    Party,
    Project,
    ProjectNotFound,
    ProjectStanding,
    RankTaken,
    UnknownEdition,
)
from shared.events.types import Host, OrganizationStatus, ProjectStatus, Sector
from tests.support.fakes import FakeUnitOfWork

NOW = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
EDITION = KnownEdition(edition_id="edition-1", number=1, host=Host.chongqing)


def a_member(organization_id: str, status: OrganizationStatus = OrganizationStatus.active) -> KnownOrganization:
    return KnownOrganization(organization_id=organization_id, country="MY", status=status)


def a_project(**changes: Any) -> Project:
    """A signed project of EDITION worth ¥7,100.00 (1,000 dollars at 7.1), with one party; ``changes`` replace
    fields."""
    project = Project(id="project-1", edition_id=EDITION.edition_id, title="Solar farm", sector=Sector.green_energy,
                      amount=Decimal("1000.00"), currency="USD", fx_rate_to_cny=Decimal("7.1"),
                      amount_cny=Decimal("7100.00"), status=ProjectStatus.signed, signed_on=None, created_at=NOW,
                      amended_at=None, withdrawn_at=None, parties=(Party("Sunrise Sdn Bhd", "MY", "org-1"),))
    return replace(project, **changes)


def a_case(**changes: Any) -> Case:
    case = Case(id="case-1", edition_id=EDITION.edition_id, rank=1, title="Bridging two cities",
                sector=Sector.infrastructure, enterprise="Lim Holdings", country="MY", summary="A bridge.",
                project_id=None, status=CaseStatus.featured, created_at=NOW, unfeatured_at=None)
    return replace(case, **changes)


class FakeProjects:
    def __init__(self, *projects: Project) -> None:
        self.by_id = {p.id: p for p in projects}

    async def lock(self, project_id: str) -> Project:
        try:
            return self.by_id[project_id]
        except KeyError:
            raise ProjectNotFound(f"no project with id {project_id}") from None

    async def standing(self, project_id: str) -> ProjectStanding | None:
        project = self.by_id.get(project_id)
        return None if project is None else ProjectStanding(project.edition_id, project.status)

    async def add(self, project: Project) -> None:
        self.by_id[project.id] = project

    async def save(self, project: Project, *, previous: Project) -> None:
        assert self.by_id[project.id] == previous, "saved over a project that changed since it was loaded"
        self.by_id[project.id] = project


class FakeCases:
    def __init__(self, *cases: Case) -> None:
        self.by_id = {c.id: c for c in cases}

    async def lock(self, case_id: str) -> Case:
        try:
            return self.by_id[case_id]
        except KeyError:
            raise CaseNotFound(f"no case with id {case_id}") from None

    async def rank_holder(self, edition_id: str, rank: int) -> str | None:
        return next((c.id for c in self.by_id.values() if c.edition_id == edition_id and c.rank == rank
                     and c.status == CaseStatus.featured), None)

    async def add(self, case: Case) -> None:
        # The partial unique index of the real table: one featured case per rank and edition.
        if await self.rank_holder(case.edition_id, case.rank) is not None:
            raise RankTaken(f"rank {case.rank} was just taken by another featured case of the edition", field="rank")
        self.by_id[case.id] = case

    async def save(self, case: Case) -> None:
        self.by_id[case.id] = case


class FakeReplicas:
    def __init__(self, editions: tuple[KnownEdition, ...] = (EDITION,),
                 organizations: tuple[KnownOrganization, ...] = ()) -> None:
        self.editions = {e.edition_id: e for e in editions}
        self.members = {o.organization_id: o for o in organizations}

    async def edition(self, edition_id: str) -> KnownEdition:
        try:
            return self.editions[edition_id]
        except KeyError:
            raise UnknownEdition(f"edition_id {edition_id} is not known to the projects service",
                                 field="edition_id") from None

    async def organizations(self, organization_ids: list[str]) -> Mapping[str, KnownOrganization]:
        return {i: self.members[i] for i in organization_ids if i in self.members}

    async def save_edition(self, edition: KnownEdition) -> None:
        self.editions[edition.edition_id] = edition

    async def save_organization(self, organization: KnownOrganization) -> None:
        self.members[organization.organization_id] = organization


class FakeProjectsUnitOfWork(FakeUnitOfWork):
    """Implements ``services.projects.repository.ProjectsUnitOfWork`` in memory."""

    def __init__(self, *, projects: FakeProjects | None = None, cases: FakeCases | None = None,
                 replicas: FakeReplicas | None = None) -> None:
        super().__init__()
        self.projects = projects or FakeProjects()
        self.cases = cases or FakeCases()
        self.replicas = replicas or FakeReplicas()
