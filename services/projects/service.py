"""Projects use cases; each is one transaction that writes its events to the outbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.projects import domain
from services.projects.domain import Case, Project
from services.projects.models import projects
from services.projects.repository import ProjectsUnitOfWork, SqlCases, SqlProjects, filtered_projects
from services.projects.schemas import CaseCreate, ProjectAmend, ProjectCreate
from services.projects.schemas import Party as PartyIn
from shared.events.types import ProjectStatus, Sector
from shared.stats import ProjectFigures, project_figures


def _parties(parties: list[PartyIn]) -> tuple[domain.Party, ...]:
    return tuple(domain.Party(name=p.name, country=p.country, organization_id=p.organization_id) for p in parties)


async def sign_project(*, uow: ProjectsUnitOfWork, request: ProjectCreate) -> Project:
    async with uow:
        # References are checked against the replicas built from events, never by calling their owners.
        edition = await uow.replicas.edition(request.edition_id)
        parties = _parties(request.parties)
        members = await uow.replicas.organizations(domain.organization_ids(parties))
        project, signed = domain.sign(
            project_id=str(uuid.uuid4()), edition=edition, members=members, title=request.title,
            sector=request.sector, price=domain.Price(request.amount, request.currency, request.fx_rate_to_cny),
            parties=parties, signed_on=request.signed_on, now=datetime.now(UTC))
        await uow.projects.add(project)
        uow.emit(signed, subject=project.id)
        await uow.commit()
    return project


def _amendment(request: ProjectAmend) -> domain.Amendment:
    # Only the fields the request names: a field left out keeps its value, an explicit null clears it.
    mentioned: dict[str, Any] = {name: getattr(request, name) for name in request.model_fields_set}
    if request.parties is not None:
        mentioned["parties"] = _parties(request.parties)
    return domain.Amendment(**mentioned)


async def amend_project(*, uow: ProjectsUnitOfWork, project_id: str, request: ProjectAmend) -> Project:
    """Apply the fields the amendment names; emit `project_amended` (old and new) if anything changed."""
    amendment = _amendment(request)
    async with uow:
        project = await uow.projects.lock(project_id)
        members = await uow.replicas.organizations(amendment.added_organizations(project))
        amended, event = domain.amend(project, amendment, members=members, now=datetime.now(UTC))
        if event is None:
            return project  # nothing to amend: no write, no event
        await uow.projects.save(amended, previous=project)
        uow.emit(event, subject=project.id)
        await uow.commit()
    return amended


async def withdraw_project(*, uow: ProjectsUnitOfWork, project_id: str) -> Project:
    async with uow:
        project = await uow.projects.lock(project_id)
        withdrawn, event = domain.withdraw(project, now=datetime.now(UTC))
        await uow.projects.save(withdrawn, previous=project)
        uow.emit(event, subject=project.id)
        await uow.commit()
    return withdrawn


# -- reading ----------------------------------------------------------------------------------------------


async def get_project(conn: AsyncConnection, project_id: str) -> Project:
    return await SqlProjects(conn).get(project_id)


async def list_projects(conn: AsyncConnection, *, edition_id: str | None, sector: Sector | None,
                        status: ProjectStatus | None, country: str | None, limit: int, cursor: str | None
                        ) -> tuple[list[Project], str | None]:
    query = filtered_projects(edition_id=edition_id, sector=sector, status=status, country=country)
    return await SqlProjects(conn).page(query, limit=limit, cursor=cursor)


async def export_rows(conn: AsyncConnection, *, edition_id: str | None, sector: Sector | None,
                      status: ProjectStatus | None, country: str | None, after: str | None,
                      batch: int) -> list[Project]:
    """One batch of the CSV export, in id order after ``after`` (keyset: constant memory for any size)."""
    query = filtered_projects(edition_id=edition_id, sector=sector, status=status, country=country)
    return await SqlProjects(conn).batch_after(query, after=after, batch=batch)


async def project_stats(conn: AsyncConnection, *, edition_id: str | None) -> ProjectFigures:
    query = (select(projects.c.sector, func.count(), func.sum(projects.c.amount_cny))
             .where(projects.c.status == ProjectStatus.signed.value).group_by(projects.c.sector))
    if edition_id:
        query = query.where(projects.c.edition_id == edition_id)
    rows = (await conn.execute(query)).all()
    return project_figures({Sector(s): (n, Decimal(total or 0)) for s, n, total in rows})


# -- the Top-10 cases -------------------------------------------------------------------------------------


async def feature_case(*, uow: ProjectsUnitOfWork, request: CaseCreate) -> Case:
    async with uow:
        edition = await uow.replicas.edition(request.edition_id)
        project = None if request.project_id is None else await uow.projects.standing(request.project_id)
        case, featured = domain.feature(
            case_id=str(uuid.uuid4()), edition=edition, rank=request.rank, title=request.title,
            sector=request.sector, enterprise=request.enterprise, country=request.country, summary=request.summary,
            project_id=request.project_id, project=project,
            rank_holder=await uow.cases.rank_holder(request.edition_id, request.rank), now=datetime.now(UTC))
        await uow.cases.add(case)
        uow.emit(featured, subject=case.id)
        await uow.commit()
    return case


async def unfeature_case(*, uow: ProjectsUnitOfWork, case_id: str) -> Case:
    async with uow:
        case = await uow.cases.lock(case_id)
        unfeatured, event = domain.unfeature(case, now=datetime.now(UTC))
        await uow.cases.save(unfeatured)
        uow.emit(event, subject=case.id)
        await uow.commit()
    return unfeatured


async def get_case(conn: AsyncConnection, case_id: str) -> Case:
    return await SqlCases(conn).get(case_id)


async def featured_cases(conn: AsyncConnection, *, edition_id: str) -> list[Case]:
    """The edition's showcase in rank order (at most ten: one featured case per rank)."""
    return await SqlCases(conn).featured(edition_id)
