"""HTTP endpoints of the network service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from services.network import domain, service
from services.network.repository import (
    NetworkUnitOfWork,
    OrganizationRepository,
    SignedProjectRepository,
    SqlNetworkUnitOfWork,
    SqlOrganizationRepository,
    SqlSignedProjectRepository,
)
from services.network.schemas import (
    Organization,
    OrganizationCreate,
    OrganizationDetail,
    OrganizationStatusOut,
    OrganizationUpdate,
    SignedProject,
)
from shared.db.pagination import CursorQuery, LimitQuery, Page
from shared.events.types import CountryCode, OrganizationKind, OrganizationStatus
from shared.http.auth import require_role
from shared.http.deps import ReadConnDep, RolesDep, unit_of_work
from shared.stats import NetworkStats


# Both read repositories share the request's one read connection (FastAPI caches it per request).
async def _organizations(conn: ReadConnDep) -> OrganizationRepository:
    return SqlOrganizationRepository(conn)


async def _signed_projects(conn: ReadConnDep) -> SignedProjectRepository:
    return SqlSignedProjectRepository(conn)


NetworkUowDep = Annotated[NetworkUnitOfWork, Depends(unit_of_work(SqlNetworkUnitOfWork))]
OrganizationsDep = Annotated[OrganizationRepository, Depends(_organizations)]
SignedProjectsDep = Annotated[SignedProjectRepository, Depends(_signed_projects)]

router = APIRouter()
NetworkRole = Depends(require_role("network"))
# Who may see a member's contact e-mail (personal data): the network's own staff and admins.
CONTACT_ROLES = frozenset({"network", "admin"})

# Endpoints that show the contact e-mail to some callers leave it *out* (not null) for the others:
# their models are built without the field and serialised with `response_model_exclude_unset`.
_PUBLIC_FIELDS = set(Organization.model_fields) - {"contact_email"}


def _entry_fields(member: domain.Organization, *, with_contact: bool) -> dict[str, object]:
    fields = _PUBLIC_FIELDS | ({"contact_email"} if with_contact else set())
    return {name: getattr(member, name) for name in fields}


def _entry(member: domain.Organization, *, with_contact: bool) -> Organization:
    return Organization.model_validate(_entry_fields(member, with_contact=with_contact))


def _sees_contact(roles: frozenset[str]) -> bool:
    return bool(roles & CONTACT_ROLES)


def _status(member: domain.Organization) -> OrganizationStatusOut:
    return OrganizationStatusOut(id=member.id, status=member.status)


@router.post("/organizations", status_code=201, response_model=Organization, tags=["organizations"],
             dependencies=[NetworkRole], summary="An organisation joins the Collaboration Network")
async def join(body: OrganizationCreate, uow: NetworkUowDep) -> Organization:
    return _entry(await service.join(uow=uow, request=body), with_contact=True)


@router.get("/organizations", response_model=Page[Organization], response_model_exclude_unset=True,
            tags=["organizations"], summary="The public directory of members (contact e-mail for staff only)")
async def list_organizations(
    organizations: OrganizationsDep,
    roles: RolesDep,
    country: CountryCode | None = None,
    kind: OrganizationKind | None = None,
    status: OrganizationStatus | None = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[Organization]:
    members, next_cursor = await service.list_organizations(
        organizations=organizations, country=country, kind=kind, status=status, limit=limit, cursor=cursor)
    with_contact = _sees_contact(roles)
    return Page[Organization](items=[_entry(m, with_contact=with_contact) for m in members],
                              next_cursor=next_cursor)


@router.get("/organizations/{organization_id}", response_model=OrganizationDetail,
            response_model_exclude_unset=True, tags=["organizations"],
            summary="A member, with the projects it is a party to and their signed value")
async def get_organization(organization_id: str, organizations: OrganizationsDep,
                           signed_projects: SignedProjectsDep, roles: RolesDep) -> OrganizationDetail:
    detail = await service.get_organization(organizations=organizations, signed_projects=signed_projects,
                                            organization_id=organization_id)
    return OrganizationDetail.model_validate({
        **_entry_fields(detail.organization, with_contact=_sees_contact(roles)),
        "projects": [SignedProject.model_validate(p, from_attributes=True) for p in detail.projects],
        "signed_amount_cny": detail.signed_amount_cny})


@router.patch("/organizations/{organization_id}", response_model=Organization, tags=["organizations"],
              dependencies=[NetworkRole], summary="Change a member's directory entry (name, country, kind, …)")
async def update(organization_id: str, body: OrganizationUpdate, uow: NetworkUowDep) -> Organization:
    return _entry(await service.update(uow=uow, organization_id=organization_id, request=body), with_contact=True)


@router.post("/organizations/{organization_id}/suspend", response_model=OrganizationStatusOut,
             tags=["organizations"], dependencies=[NetworkRole], summary="Suspend an active member")
async def suspend(organization_id: str, uow: NetworkUowDep) -> OrganizationStatusOut:
    return _status(await service.suspend(uow=uow, organization_id=organization_id))


@router.post("/organizations/{organization_id}/reinstate", response_model=OrganizationStatusOut,
             tags=["organizations"], dependencies=[NetworkRole], summary="Reinstate a suspended member")
async def reinstate(organization_id: str, uow: NetworkUowDep) -> OrganizationStatusOut:
    return _status(await service.reinstate(uow=uow, organization_id=organization_id))


@router.post("/organizations/{organization_id}/leave", response_model=OrganizationStatusOut,
             tags=["organizations"], dependencies=[NetworkRole], summary="A member leaves the network")
async def leave(organization_id: str, uow: NetworkUowDep) -> OrganizationStatusOut:
    return _status(await service.leave(uow=uow, organization_id=organization_id))


@router.get("/stats", response_model=NetworkStats, tags=["stats"],
            summary="Active members and their countries, from this service's own tables")
async def stats(organizations: OrganizationsDep) -> NetworkStats:
    return NetworkStats(network=await service.network_figures(organizations=organizations))
