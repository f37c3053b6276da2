"""Projects use cases; each is one transaction that writes its events to the outbox."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.projects import domain
from services.projects.models import known_editions, known_organizations, project_parties, projects
from services.projects.schemas import ProjectCreate
from shared.events.projects import ProjectPrevious, ProjectSigned, ProjectWithdrawn
from shared.events.types import OrganizationStatus, ProjectStatus, Sector
from shared.outbox import UnitOfWork
from shared.pagination import keyset_page
from shared.stats import ProjectFigures, project_figures


async def sign_project(*, uow: UnitOfWork, request: ProjectCreate) -> dict[str, Any]:
    async with uow:
        conn = uow.conn
        edition = (await conn.execute(
            select(known_editions.c.edition_id).where(known_editions.c.edition_id == request.edition_id))).first()
        if edition is None:
            raise domain.UnknownEdition(
                f"edition_id {request.edition_id} is not known to the projects service; if the edition was "
                "opened a moment ago, retry shortly", field="edition_id")
        org_ids = sorted({p.organization_id for p in request.parties if p.organization_id})
        if org_ids:
            rows = (await conn.execute(select(known_organizations).where(
                known_organizations.c.organization_id.in_(org_ids)))).all()
            statuses = {r.organization_id: OrganizationStatus(r.status) for r in rows}
            for org_id in org_ids:
                domain.check_member_active(org_id, statuses.get(org_id))
        now = datetime.now(UTC)
        row: dict[str, Any] = {
            "id": str(uuid.uuid4()), "edition_id": request.edition_id, "title": request.title,
            "sector": request.sector.value, "amount": request.amount, "currency": request.currency,
            "fx_rate_to_cny": request.fx_rate_to_cny,
            "amount_cny": domain.amount_in_cny(request.amount, request.currency, request.fx_rate_to_cny),
            "status": ProjectStatus.signed.value, "signed_on": request.signed_on, "created_at": now,
        }
        await conn.execute(projects.insert().values(**row))
        parties = [{"project_id": row["id"], "position": i, "name": p.name, "country": p.country,
                    "organization_id": p.organization_id} for i, p in enumerate(request.parties)]
        await conn.execute(project_parties.insert(), parties)
        uow.emit(ProjectSigned(
            project_id=row["id"], edition_id=row["edition_id"], sector=request.sector,
            status=ProjectStatus.signed, amount_cny=row["amount_cny"], currency=request.currency,
            countries=domain.party_countries(p.country for p in request.parties), organization_ids=org_ids,
        ), subject=row["id"])
        await uow.commit()
    row["parties"] = parties
    return row


async def _parties_of(conn: AsyncConnection, project_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    by_project: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if project_ids:
        rows = (await conn.execute(select(project_parties).where(project_parties.c.project_id.in_(project_ids))
                                   .order_by(project_parties.c.project_id, project_parties.c.position))).all()
        for r in rows:
            by_project[r.project_id].append(dict(r._mapping))
    return by_project


async def get_project(conn: AsyncConnection, project_id: str) -> dict[str, Any]:
    row = (await conn.execute(select(projects).where(projects.c.id == project_id))).first()
    if row is None:
        raise domain.ProjectNotFound(f"no project with id {project_id}")
    return {**row._mapping, "parties": (await _parties_of(conn, [project_id]))[project_id]}


async def list_projects(conn: AsyncConnection, *, edition_id: str | None, sector: Sector | None,
                        status: ProjectStatus | None, country: str | None, limit: int, cursor: str | None
                        ) -> tuple[list[dict[str, Any]], str | None]:
    query = select(projects)
    if edition_id:
        query = query.where(projects.c.edition_id == edition_id)
    if sector:
        query = query.where(projects.c.sector == sector.value)
    if status:
        query = query.where(projects.c.status == status.value)
    if country:
        query = query.where(projects.c.id.in_(
            select(project_parties.c.project_id).where(project_parties.c.country == country)))
    rows, next_cursor = await keyset_page(conn, query, projects.c.id, limit=limit, cursor=cursor)
    parties = await _parties_of(conn, [r.id for r in rows])
    return [{**r._mapping, "parties": parties[r.id]} for r in rows], next_cursor


async def withdraw_project(*, uow: UnitOfWork, project_id: str) -> ProjectStatus:
    async with uow:
        conn = uow.conn
        row = (await conn.execute(select(projects).where(projects.c.id == project_id).with_for_update())).first()
        if row is None:
            raise domain.ProjectNotFound(f"no project with id {project_id}")
        previous = ProjectStatus(row.status)
        status = domain.withdraw(previous)
        await conn.execute(projects.update().where(projects.c.id == project_id).values(
            status=status.value, withdrawn_at=datetime.now(UTC)))
        parties = (await _parties_of(conn, [project_id]))[project_id]
        countries = domain.party_countries(p["country"] for p in parties)
        org_ids = sorted({p["organization_id"] for p in parties if p["organization_id"]})
        sector = Sector(row.sector)
        uow.emit(ProjectWithdrawn(
            project_id=row.id, edition_id=row.edition_id, sector=sector, status=status,
            amount_cny=row.amount_cny, currency=row.currency, countries=countries, organization_ids=org_ids,
            previous=ProjectPrevious(sector=sector, status=previous, amount_cny=row.amount_cny,
                                     countries=countries, organization_ids=org_ids),
        ), subject=row.id)
        await uow.commit()
    return status


async def project_stats(conn: AsyncConnection, *, edition_id: str | None) -> ProjectFigures:
    query = (select(projects.c.sector, func.count(), func.sum(projects.c.amount_cny))
             .where(projects.c.status == ProjectStatus.signed.value).group_by(projects.c.sector))
    if edition_id:
        query = query.where(projects.c.edition_id == edition_id)
    rows = (await conn.execute(query)).all()
    return project_figures({Sector(s): (n, Decimal(total or 0)) for s, n, total in rows})
