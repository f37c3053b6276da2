"""Persistence of the network service: organisations, the signed-projects replica, the unit of work.

SQL concerns stay here: row locks, the partial unique index on names (its violation is the domain's
duplicate error) and the replica's upsert.
"""

from __future__ import annotations

from typing import Any, Protocol, Self

from sqlalchemy import Row, delete, distinct, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.network.domain import (
    DuplicateOrganization,
    Organization,
    OrganizationNotFound,
    SignedProject,
    normalize_name,
)
from services.network.models import organization_projects, organizations
from shared.db.pagination import keyset_page
from shared.db.records import get_or_raise
from shared.db.statements import upsert_replacing
from shared.events.types import OrganizationKind, OrganizationStatus, ProjectStatus, Sector
from shared.messaging.outbox import UnitOfWork, UnitOfWorkPort
from shared.stats import NetworkFigures


def organization_from_row(row: Row[Any]) -> Organization:
    return Organization(id=row.id, name=row.name, name_zh=row.name_zh, country=row.country,
                        kind=OrganizationKind(row.kind), city=row.city, website=row.website,
                        contact_email=row.contact_email, status=OrganizationStatus(row.status),
                        joined_at=row.joined_at, left_at=row.left_at, updated_at=row.updated_at)


def signed_project_from_row(row: Row[Any]) -> SignedProject:
    return SignedProject(organization_id=row.organization_id, project_id=row.project_id, edition_id=row.edition_id,
                         title=row.title, sector=Sector(row.sector), status=ProjectStatus(row.status),
                         amount_cny=row.amount_cny, updated_at=row.updated_at)


def duplicate(name: str, country: str) -> DuplicateOrganization:
    return DuplicateOrganization(f"{name!r} is already a member in {country} (names are case-insensitive)",
                                 field="name")


def _not_found(organization_id: str) -> OrganizationNotFound:
    return OrganizationNotFound(f"no organisation with id {organization_id}")


class OrganizationRepository(Protocol):
    async def get(self, organization_id: str) -> Organization: ...

    async def lock(self, organization_id: str) -> Organization:
        """The member, locked for update until the transaction ends."""
        ...

    async def check_name_free(self, *, name: str, country: str, except_id: str | None) -> None:
        """Raise the duplicate error if a current member of ``country`` already has that name."""
        ...

    async def add(self, organization: Organization) -> None: ...

    async def save(self, organization: Organization) -> None: ...

    async def page(self, *, country: str | None, kind: OrganizationKind | None, status: OrganizationStatus | None,
                   limit: int, cursor: str | None) -> tuple[list[Organization], str | None]: ...

    async def figures(self) -> NetworkFigures: ...


class SignedProjectRepository(Protocol):
    async def of_member(self, organization_id: str) -> list[SignedProject]:
        """The member's projects, by edition then project."""
        ...

    async def replace_parties(self, project_id: str, parties: list[SignedProject]) -> None:
        """The project's rows become ``parties`` (one per member): the others go, these are upserted."""
        ...


class NetworkUnitOfWork(UnitOfWorkPort, Protocol):
    # Read-only in the port, so a fake's own repository types satisfy it.
    @property
    def organizations(self) -> OrganizationRepository: ...

    @property
    def signed_projects(self) -> SignedProjectRepository: ...


class SqlOrganizationRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get(self, organization_id: str) -> Organization:
        return await get_or_raise(self.conn, organizations, organization_id, to_record=organization_from_row,
                                  missing=_not_found(organization_id))

    async def lock(self, organization_id: str) -> Organization:
        return await get_or_raise(self.conn, organizations, organization_id, to_record=organization_from_row,
                                  missing=_not_found(organization_id), lock="update")

    async def check_name_free(self, *, name: str, country: str, except_id: str | None) -> None:
        # A friendly 409 before writing; the partial unique index still decides between concurrent writes.
        query = select(organizations.c.id).where(
            organizations.c.country == country, organizations.c.name_normalized == normalize_name(name),
            organizations.c.status != OrganizationStatus.left.value)
        if except_id is not None:
            query = query.where(organizations.c.id != except_id)
        if (await self.conn.execute(query)).first() is not None:
            raise duplicate(name, country)

    async def add(self, organization: Organization) -> None:
        try:
            await self.conn.execute(organizations.insert(), {
                **_entry_values(organization), "id": organization.id, "joined_at": organization.joined_at})
        except IntegrityError:
            raise duplicate(organization.name, organization.country) from None

    async def save(self, organization: Organization) -> None:
        try:
            await self.conn.execute(organizations.update().where(organizations.c.id == organization.id)
                                    .values(**_entry_values(organization), left_at=organization.left_at,
                                            updated_at=organization.updated_at))
        except IntegrityError:
            raise duplicate(organization.name, organization.country) from None

    async def page(self, *, country: str | None, kind: OrganizationKind | None, status: OrganizationStatus | None,
                   limit: int, cursor: str | None) -> tuple[list[Organization], str | None]:
        query = select(organizations)
        if country:
            query = query.where(organizations.c.country == country)
        if kind:
            query = query.where(organizations.c.kind == kind.value)
        if status:
            query = query.where(organizations.c.status == status.value)
        rows, next_cursor = await keyset_page(self.conn, query, organizations.c.id, limit=limit, cursor=cursor)
        return [organization_from_row(r) for r in rows], next_cursor

    async def figures(self) -> NetworkFigures:
        active = organizations.c.status == OrganizationStatus.active.value
        count, countries = (await self.conn.execute(
            select(func.count(), func.count(distinct(organizations.c.country))).where(active))).one()
        return NetworkFigures(organizations=count, countries=countries)


def _entry_values(organization: Organization) -> dict[str, object]:
    return {"name": organization.name, "name_normalized": organization.name_normalized,
            "name_zh": organization.name_zh, "country": organization.country, "kind": organization.kind.value,
            "city": organization.city, "website": organization.website,
            "contact_email": organization.contact_email, "status": organization.status.value}


class SqlSignedProjectRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def of_member(self, organization_id: str) -> list[SignedProject]:
        rows = (await self.conn.execute(
            select(organization_projects).where(organization_projects.c.organization_id == organization_id)
            .order_by(organization_projects.c.edition_id, organization_projects.c.project_id))).all()
        return [signed_project_from_row(r) for r in rows]

    async def replace_parties(self, project_id: str, parties: list[SignedProject]) -> None:
        members = sorted({p.organization_id for p in parties})
        stale = delete(organization_projects).where(organization_projects.c.project_id == project_id)
        if members:
            stale = stale.where(organization_projects.c.organization_id.not_in(members))
        await self.conn.execute(stale)
        for party in sorted(parties, key=lambda p: p.organization_id):
            await self.conn.execute(upsert_replacing(
                self.conn, organization_projects, ["organization_id", "project_id"], {
                    "organization_id": party.organization_id, "project_id": party.project_id,
                    "edition_id": party.edition_id, "title": party.title, "sector": party.sector.value,
                    "status": party.status.value, "amount_cny": party.amount_cny, "updated_at": party.updated_at}))


class SqlNetworkUnitOfWork(UnitOfWork):
    organizations: OrganizationRepository
    signed_projects: SignedProjectRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.organizations = SqlOrganizationRepository(self.conn)
        self.signed_projects = SqlSignedProjectRepository(self.conn)
        return self
