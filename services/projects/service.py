"""Projects use cases; each is one transaction that writes its events to the outbox."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.projects import domain
from services.projects.models import cases, known_editions, known_organizations, project_parties, projects
from services.projects.schemas import CaseCreate, ProjectAmend, ProjectCreate
from shared.db.pagination import keyset_page
from shared.events.projects import (
    CaseFeatured,
    CaseUnfeatured,
    ProjectAmended,
    ProjectPrevious,
    ProjectSigned,
    ProjectWithdrawn,
)
from shared.events.types import OrganizationStatus, ProjectStatus, Sector
from shared.messaging.outbox import UnitOfWork
from shared.stats import ProjectFigures, project_figures


async def _check_edition_known(conn: AsyncConnection, edition_id: str) -> None:
    """From the replica built from `edition_opened`: never a call to the registration service."""
    edition = (await conn.execute(
        select(known_editions.c.edition_id).where(known_editions.c.edition_id == edition_id))).first()
    if edition is None:
        raise domain.UnknownEdition(
            f"edition_id {edition_id} is not known to the projects service; if the edition was "
            "opened a moment ago, retry shortly", field="edition_id")


async def _check_members_active(conn: AsyncConnection, org_ids: list[str]) -> None:
    """From the replica built from the network's `organization_*` events."""
    if org_ids:
        rows = (await conn.execute(select(known_organizations).where(
            known_organizations.c.organization_id.in_(org_ids)))).all()
        statuses = {r.organization_id: OrganizationStatus(r.status) for r in rows}
        for org_id in org_ids:
            domain.check_member_active(org_id, statuses.get(org_id))


def _organization_ids(parties: list[dict[str, Any]]) -> list[str]:
    return sorted({p["organization_id"] for p in parties if p["organization_id"]})


def _state(row: Any, parties: list[dict[str, Any]]) -> dict[str, Any]:
    """The countable state of a project, as its events carry it."""
    return {"sector": Sector(row["sector"]), "status": ProjectStatus(row["status"]),
            "amount_cny": row["amount_cny"],
            "countries": domain.party_countries(p["country"] for p in parties),
            "organization_ids": _organization_ids(parties)}


async def sign_project(*, uow: UnitOfWork, request: ProjectCreate) -> dict[str, Any]:
    async with uow:
        conn = uow.conn
        await _check_edition_known(conn, request.edition_id)
        org_ids = sorted({p.organization_id for p in request.parties if p.organization_id})
        await _check_members_active(conn, org_ids)
        now = datetime.now(UTC)
        row: dict[str, Any] = {
            "id": str(uuid.uuid4()), "edition_id": request.edition_id, "title": request.title,
            "sector": request.sector.value, "amount": request.amount, "currency": request.currency,
            "fx_rate_to_cny": request.fx_rate_to_cny,
            "amount_cny": domain.amount_in_cny(request.amount, request.currency, request.fx_rate_to_cny),
            "status": ProjectStatus.signed.value, "signed_on": request.signed_on, "created_at": now,
        }
        await conn.execute(projects.insert(), row)
        parties = [{"project_id": row["id"], "position": i, "name": p.name, "country": p.country,
                    "organization_id": p.organization_id} for i, p in enumerate(request.parties)]
        await conn.execute(project_parties.insert(), parties)
        uow.emit(ProjectSigned(
            project_id=row["id"], edition_id=row["edition_id"], sector=request.sector,
            status=ProjectStatus.signed, amount_cny=row["amount_cny"], currency=request.currency,
            countries=domain.party_countries(p.country for p in request.parties), organization_ids=org_ids,
            title=request.title,
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


def _filtered_projects(*, edition_id: str | None, sector: Sector | None, status: ProjectStatus | None,
                       country: str | None) -> Select[Any]:
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
    return query


async def list_projects(conn: AsyncConnection, *, edition_id: str | None, sector: Sector | None,
                        status: ProjectStatus | None, country: str | None, limit: int, cursor: str | None
                        ) -> tuple[list[dict[str, Any]], str | None]:
    query = _filtered_projects(edition_id=edition_id, sector=sector, status=status, country=country)
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
        before = _state(row._mapping, parties)
        uow.emit(ProjectWithdrawn(
            project_id=row.id, edition_id=row.edition_id, currency=row.currency, title=row.title,
            **{**before, "status": status}, previous=ProjectPrevious(**before),
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


async def amend_project(*, uow: UnitOfWork, project_id: str, request: ProjectAmend) -> dict[str, Any]:
    """Apply the fields the amendment names; emit `project_amended` (old and new) if anything changed."""
    mentioned = request.model_fields_set
    async with uow:
        conn = uow.conn
        row = (await conn.execute(select(projects).where(projects.c.id == project_id).with_for_update())).first()
        if row is None:
            raise domain.ProjectNotFound(f"no project with id {project_id}")
        domain.check_amendable(ProjectStatus(row.status))
        old_parties = (await _parties_of(conn, [project_id]))[project_id]

        price = domain.amended_price(
            domain.Price(row.amount, row.currency, row.fx_rate_to_cny),
            **{name: getattr(request, name) for name in ("amount", "currency", "fx_rate_to_cny") if name in mentioned})
        changes: dict[str, Any] = {
            "amount": price.amount, "currency": price.currency, "fx_rate_to_cny": price.fx_rate_to_cny,
            "amount_cny": price.amount_cny,
        }
        for name in ("title", "signed_on"):
            if name in mentioned:
                changes[name] = getattr(request, name)
        if request.sector is not None:
            changes["sector"] = request.sector.value
        new_parties = old_parties
        if request.parties is not None:
            new_parties = [{"project_id": project_id, "position": i, "name": p.name, "country": p.country,
                            "organization_id": p.organization_id} for i, p in enumerate(request.parties)]
            await _check_members_active(conn, domain.added_organizations(
                _organization_ids(old_parties), _organization_ids(new_parties)))

        old = dict(row._mapping)
        changed = {k: v for k, v in changes.items() if old[k] != v}
        parties_changed = [_party_key(p) for p in new_parties] != [_party_key(p) for p in old_parties]
        if not changed and not parties_changed:
            return {**old, "parties": old_parties}  # nothing to amend: no write, no event

        new = {**old, **changed, "amended_at": datetime.now(UTC)}
        await conn.execute(projects.update().where(projects.c.id == project_id).values(
            **changed, amended_at=new["amended_at"]))
        if parties_changed:
            await conn.execute(project_parties.delete().where(project_parties.c.project_id == project_id))
            await conn.execute(project_parties.insert(), new_parties)
        uow.emit(ProjectAmended(
            project_id=project_id, edition_id=row.edition_id, currency=new["currency"], title=new["title"],
            **_state(new, new_parties), previous=ProjectPrevious(**_state(old, old_parties)),
        ), subject=project_id)
        await uow.commit()
    return {**new, "parties": new_parties}


def _party_key(party: dict[str, Any]) -> tuple[str, str, str | None]:
    return party["name"], party["country"], party["organization_id"]


async def export_rows(conn: AsyncConnection, *, edition_id: str | None, sector: Sector | None,
                      status: ProjectStatus | None, country: str | None, after: str | None,
                      batch: int) -> list[dict[str, Any]]:
    """One batch of the CSV export, in id order after ``after`` (keyset: constant memory for any size)."""
    query = _filtered_projects(edition_id=edition_id, sector=sector, status=status, country=country)
    if after is not None:
        query = query.where(projects.c.id > after)
    rows = (await conn.execute(query.order_by(projects.c.id).limit(batch))).all()
    parties = await _parties_of(conn, [r.id for r in rows])
    return [{**r._mapping, "parties": parties[r.id]} for r in rows]


# -- the Top-10 cases -------------------------------------------------------------------------------------


async def feature_case(*, uow: UnitOfWork, request: CaseCreate) -> dict[str, Any]:
    async with uow:
        conn = uow.conn
        await _check_edition_known(conn, request.edition_id)
        if request.project_id is not None:
            project = (await conn.execute(select(projects.c.edition_id, projects.c.status)
                                          .where(projects.c.id == request.project_id))).first()
            domain.check_case_project(
                request.project_id, case_edition_id=request.edition_id,
                project_edition_id=project.edition_id if project else None,
                project_status=ProjectStatus(project.status) if project else None)
        holder = (await conn.execute(select(cases.c.id).where(
            cases.c.edition_id == request.edition_id, cases.c.rank == request.rank,
            cases.c.status == domain.CaseStatus.featured.value))).scalar()
        domain.check_rank_free(request.rank, holder)
        row: dict[str, Any] = {
            "id": str(uuid.uuid4()), **request.model_dump(), "sector": request.sector.value,
            "status": domain.CaseStatus.featured.value, "created_at": datetime.now(UTC), "unfeatured_at": None,
        }
        try:
            await conn.execute(cases.insert(), row)
        except IntegrityError:
            # Another request took the rank between our check and our insert: the partial unique
            # index refused the second one.
            raise domain.RankTaken(f"rank {request.rank} was just taken by another featured case of the edition",
                                   field="rank") from None
        uow.emit(CaseFeatured(case_id=row["id"], edition_id=request.edition_id, rank=request.rank,
                              title=request.title, sector=request.sector, enterprise=request.enterprise,
                              country=request.country, project_id=request.project_id), subject=row["id"])
        await uow.commit()
    return row


async def unfeature_case(*, uow: UnitOfWork, case_id: str) -> domain.CaseStatus:
    async with uow:
        conn = uow.conn
        row = (await conn.execute(select(cases).where(cases.c.id == case_id).with_for_update())).first()
        if row is None:
            raise domain.CaseNotFound(f"no case with id {case_id}")
        status = domain.unfeature(domain.CaseStatus(row.status))
        await conn.execute(cases.update().where(cases.c.id == case_id).values(
            status=status.value, unfeatured_at=datetime.now(UTC)))
        uow.emit(CaseUnfeatured(case_id=row.id, edition_id=row.edition_id, rank=row.rank), subject=row.id)
        await uow.commit()
    return status


async def get_case(conn: AsyncConnection, case_id: str) -> Any:
    row = (await conn.execute(select(cases).where(cases.c.id == case_id))).first()
    if row is None:
        raise domain.CaseNotFound(f"no case with id {case_id}")
    return row


async def featured_cases(conn: AsyncConnection, *, edition_id: str) -> list[Any]:
    """The edition's showcase in rank order (at most ten: one featured case per rank)."""
    return list((await conn.execute(select(cases).where(
        cases.c.edition_id == edition_id, cases.c.status == domain.CaseStatus.featured.value)
        .order_by(cases.c.rank))).all())
