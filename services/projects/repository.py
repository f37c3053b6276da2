"""Persistence of the projects service: repositories over its tables, row→record mappers, its unit of work."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any, Protocol, Self

from sqlalchemy import Row, Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

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
from services.projects.models import cases, known_editions, known_organizations, project_parties, projects
from shared.db.pagination import keyset_page
from shared.db.records import get_or_raise
from shared.db.statements import upsert_replacing
from shared.events.types import Host, OrganizationStatus, ProjectStatus, Sector
from shared.messaging.outbox import UnitOfWork, UnitOfWorkPort

# -- row → record ------------------------------------------------------------------------------------------


def project_from_row(row: Row[Any], parties: Iterable[Party]) -> Project:
    return Project(id=row.id, edition_id=row.edition_id, title=row.title, sector=Sector(row.sector),
                   amount=row.amount, currency=row.currency, fx_rate_to_cny=row.fx_rate_to_cny,
                   amount_cny=row.amount_cny, status=ProjectStatus(row.status), signed_on=row.signed_on,
                   created_at=row.created_at, amended_at=row.amended_at, withdrawn_at=row.withdrawn_at,
                   parties=tuple(parties))


def party_from_row(row: Row[Any]) -> Party:
    return Party(name=row.name, country=row.country, organization_id=row.organization_id)


def case_from_row(row: Row[Any]) -> Case:
    return Case(id=row.id, edition_id=row.edition_id, rank=row.rank, title=row.title, sector=Sector(row.sector),
                enterprise=row.enterprise, country=row.country, summary=row.summary, project_id=row.project_id,
                status=CaseStatus(row.status), created_at=row.created_at, unfeatured_at=row.unfeatured_at)


def edition_from_row(row: Row[Any]) -> KnownEdition:
    return KnownEdition(edition_id=row.edition_id, number=row.number, host=Host(row.host))


def organization_from_row(row: Row[Any]) -> KnownOrganization:
    return KnownOrganization(organization_id=row.organization_id, country=row.country,
                             status=OrganizationStatus(row.status))


# -- ports ------------------------------------------------------------------------------------------------


class ProjectRepository(Protocol):
    async def lock(self, project_id: str) -> Project:
        """The project, its row locked for the rest of the transaction; ProjectNotFound if none."""
        ...

    async def standing(self, project_id: str) -> ProjectStanding | None: ...

    async def add(self, project: Project) -> None: ...

    async def save(self, project: Project, *, previous: Project) -> None:
        """Write what changed since ``previous`` (the project as it was loaded)."""
        ...


class CaseRepository(Protocol):
    async def lock(self, case_id: str) -> Case: ...

    async def rank_holder(self, edition_id: str, rank: int) -> str | None:
        """The featured case of the edition holding ``rank``, if any."""
        ...

    async def add(self, case: Case) -> None:
        """RankTaken if a concurrent request featured another case at the same rank first."""
        ...

    async def save(self, case: Case) -> None: ...


class ReplicaRepository(Protocol):
    """The replicas of other services' records, built from their events: references are checked here,
    never by calling those services."""

    async def edition(self, edition_id: str) -> KnownEdition:
        """The known edition; UnknownEdition if its `edition_opened` has not arrived (yet)."""
        ...

    async def organizations(self, organization_ids: list[str]) -> Mapping[str, KnownOrganization]:
        """The known members among ``organization_ids`` (unknown ones are absent)."""
        ...

    async def save_edition(self, edition: KnownEdition) -> None: ...

    async def save_organization(self, organization: KnownOrganization) -> None: ...


class ProjectsUnitOfWork(UnitOfWorkPort, Protocol):
    # Read-only members, so that an implementation may hold a more specific repository.
    @property
    def projects(self) -> ProjectRepository: ...

    @property
    def cases(self) -> CaseRepository: ...

    @property
    def replicas(self) -> ReplicaRepository: ...


# -- SQL --------------------------------------------------------------------------------------------------

# Columns of `projects` a save may change (the id, edition and creation time never do).
_PROJECT_COLUMNS = tuple(f.name for f in fields(Project) if f.name not in ("id", "edition_id", "created_at",
                                                                               "parties"))


def _column_value(value: object) -> object:
    return value.value if isinstance(value, Sector | ProjectStatus) else value


def _party_rows(project: Project) -> list[dict[str, Any]]:
    return [{"project_id": project.id, "position": i, "name": p.name, "country": p.country,
             "organization_id": p.organization_id} for i, p in enumerate(project.parties)]


def filtered_projects(*, edition_id: str | None, sector: Sector | None, status: ProjectStatus | None,
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


class SqlProjects:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def _parties_of(self, project_ids: list[str]) -> dict[str, list[Party]]:
        by_project: dict[str, list[Party]] = defaultdict(list)
        if project_ids:
            rows = (await self.conn.execute(
                select(project_parties).where(project_parties.c.project_id.in_(project_ids))
                .order_by(project_parties.c.project_id, project_parties.c.position))).all()
            for r in rows:
                by_project[r.project_id].append(party_from_row(r))
        return by_project

    async def _with_parties(self, rows: list[Row[Any]]) -> list[Project]:
        parties = await self._parties_of([r.id for r in rows])
        return [project_from_row(r, parties[r.id]) for r in rows]

    async def _one(self, project_id: str, *, lock: bool) -> Project:
        # The row first (locked if asked: the parties' rows are only ever changed under it), then its parties.
        row: Row[Any] = await get_or_raise(self.conn, projects, project_id, to_record=lambda r: r,
                                           missing=ProjectNotFound(f"no project with id {project_id}"),
                                           lock="update" if lock else None)
        return (await self._with_parties([row]))[0]

    async def get(self, project_id: str) -> Project:
        return await self._one(project_id, lock=False)

    async def lock(self, project_id: str) -> Project:
        return await self._one(project_id, lock=True)

    async def standing(self, project_id: str) -> ProjectStanding | None:
        row = (await self.conn.execute(select(projects.c.edition_id, projects.c.status)
                                       .where(projects.c.id == project_id))).first()
        return None if row is None else ProjectStanding(row.edition_id, ProjectStatus(row.status))

    async def page(self, query: Select[Any], *, limit: int, cursor: str | None) -> tuple[list[Project], str | None]:
        rows, next_cursor = await keyset_page(self.conn, query, projects.c.id, limit=limit, cursor=cursor)
        return await self._with_parties(rows), next_cursor

    async def batch_after(self, query: Select[Any], *, after: str | None, batch: int) -> list[Project]:
        """Up to ``batch`` projects of ``query`` in id order after ``after`` (keyset: constant memory)."""
        if after is not None:
            query = query.where(projects.c.id > after)
        rows = (await self.conn.execute(query.order_by(projects.c.id).limit(batch))).all()
        return await self._with_parties(list(rows))

    async def add(self, project: Project) -> None:
        await self.conn.execute(projects.insert(), {
            "id": project.id, "edition_id": project.edition_id, "created_at": project.created_at,
            **{name: _column_value(getattr(project, name)) for name in _PROJECT_COLUMNS}})
        await self.conn.execute(project_parties.insert(), _party_rows(project))

    async def save(self, project: Project, *, previous: Project) -> None:
        # Only the changed columns, and the parties only if they changed: an amendment of the title
        # leaves the parties' rows alone.
        changed = {name: _column_value(getattr(project, name)) for name in _PROJECT_COLUMNS
                   if getattr(project, name) != getattr(previous, name)}
        if changed:
            await self.conn.execute(projects.update().where(projects.c.id == project.id).values(**changed))
        if project.parties != previous.parties:
            await self.conn.execute(project_parties.delete().where(project_parties.c.project_id == project.id))
            await self.conn.execute(project_parties.insert(), _party_rows(project))


class SqlCases:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get(self, case_id: str) -> Case:
        return await get_or_raise(self.conn, cases, case_id, to_record=case_from_row,
                                  missing=CaseNotFound(f"no case with id {case_id}"))

    async def lock(self, case_id: str) -> Case:
        return await get_or_raise(self.conn, cases, case_id, to_record=case_from_row,
                                  missing=CaseNotFound(f"no case with id {case_id}"), lock="update")

    async def featured(self, edition_id: str) -> list[Case]:
        """The edition's featured cases in rank order (at most ten: one per rank)."""
        rows = (await self.conn.execute(select(cases).where(
            cases.c.edition_id == edition_id, cases.c.status == CaseStatus.featured.value)
            .order_by(cases.c.rank))).all()
        return [case_from_row(r) for r in rows]

    async def rank_holder(self, edition_id: str, rank: int) -> str | None:
        holder: str | None = (await self.conn.execute(select(cases.c.id).where(
            cases.c.edition_id == edition_id, cases.c.rank == rank,
            cases.c.status == CaseStatus.featured.value))).scalar()
        return holder

    async def add(self, case: Case) -> None:
        try:
            await self.conn.execute(cases.insert(), {
                "id": case.id, "edition_id": case.edition_id, "rank": case.rank, "title": case.title,
                "sector": case.sector.value, "enterprise": case.enterprise, "country": case.country,
                "summary": case.summary, "project_id": case.project_id, "status": case.status.value,
                "created_at": case.created_at, "unfeatured_at": case.unfeatured_at})
        except IntegrityError:
            # Another request took the rank between our check and our insert: the partial unique
            # index refused the second one.
            raise RankTaken(f"rank {case.rank} was just taken by another featured case of the edition",
                            field="rank") from None

    async def save(self, case: Case) -> None:
        await self.conn.execute(cases.update().where(cases.c.id == case.id).values(
            status=case.status.value, unfeatured_at=case.unfeatured_at))


class SqlReplicas:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def edition(self, edition_id: str) -> KnownEdition:
        return await get_or_raise(self.conn, known_editions, edition_id, column="edition_id",
                                  to_record=edition_from_row, missing=UnknownEdition(
                                      f"edition_id {edition_id} is not known to the projects service; if the "
                                      "edition was opened a moment ago, retry shortly", field="edition_id"))

    async def organizations(self, organization_ids: list[str]) -> Mapping[str, KnownOrganization]:
        if not organization_ids:
            return {}
        rows = (await self.conn.execute(select(known_organizations).where(
            known_organizations.c.organization_id.in_(organization_ids)))).all()
        return {r.organization_id: organization_from_row(r) for r in rows}

    # Idempotent upserts: a redelivered or replayed event leaves the replica as it was.
    async def save_edition(self, edition: KnownEdition) -> None:
        await self.conn.execute(upsert_replacing(self.conn, known_editions, ["edition_id"], {
            "edition_id": edition.edition_id, "number": edition.number, "host": edition.host.value}))

    async def save_organization(self, organization: KnownOrganization) -> None:
        await self.conn.execute(upsert_replacing(self.conn, known_organizations, ["organization_id"], {
            "organization_id": organization.organization_id, "country": organization.country,
            "status": organization.status.value}))


class SqlProjectsUnitOfWork(UnitOfWork):
    """The SQL unit of work of the projects service: its repositories on the transaction's connection."""

    projects: SqlProjects
    cases: SqlCases
    replicas: SqlReplicas

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.projects = SqlProjects(self.conn)
        self.cases = SqlCases(self.conn)
        self.replicas = SqlReplicas(self.conn)
        return self
