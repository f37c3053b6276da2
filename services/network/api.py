"""HTTP endpoints of the network service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from services.network import service
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
from shared.http.deps import ReadConnDep, RolesDep, UowDep
from shared.stats import NetworkStats

router = APIRouter()
NetworkRole = Depends(require_role("network"))
# Who may see a member's contact e-mail (personal data): the network's own staff and admins.
CONTACT_ROLES = frozenset({"network", "admin"})

# Endpoints that show the contact e-mail to some callers leave it *out* (not null) for the others:
# their models are built without the field and serialised with `response_model_exclude_unset`.
_PUBLIC_FIELDS = set(Organization.model_fields) - {"contact_email"}


def _entry(row: Any, *, with_contact: bool) -> dict[str, Any]:
    mapping = row if isinstance(row, dict) else dict(row._mapping)
    fields = _PUBLIC_FIELDS | ({"contact_email"} if with_contact else set())
    return {k: mapping[k] for k in fields}


def _sees_contact(roles: frozenset[str]) -> bool:
    return bool(roles & CONTACT_ROLES)


@router.post("/organizations", status_code=201, response_model=Organization, tags=["organizations"],
             dependencies=[NetworkRole], summary="An organisation joins the Collaboration Network")
async def join(body: OrganizationCreate, uow: UowDep) -> Organization:
    return Organization.model_validate(_entry(await service.join(uow=uow, request=body), with_contact=True))


@router.get("/organizations", response_model=Page[Organization], response_model_exclude_unset=True,
            tags=["organizations"], summary="The public directory of members (contact e-mail for staff only)")
async def list_organizations(
    conn: ReadConnDep,
    roles: RolesDep,
    country: CountryCode | None = None,
    kind: OrganizationKind | None = None,
    status: OrganizationStatus | None = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[Organization]:
    rows, next_cursor = await service.list_organizations(conn, country=country, kind=kind, status=status,
                                                         limit=limit, cursor=cursor)
    with_contact = _sees_contact(roles)
    return Page[Organization](items=[Organization.model_validate(_entry(r, with_contact=with_contact))
                                     for r in rows], next_cursor=next_cursor)


@router.get("/organizations/{organization_id}", response_model=OrganizationDetail,
            response_model_exclude_unset=True, tags=["organizations"],
            summary="A member, with the projects it is a party to and their signed value")
async def get_organization(organization_id: str, conn: ReadConnDep, roles: RolesDep) -> OrganizationDetail:
    row = await service.get_organization(conn, organization_id)
    projects, total = await service.signed_projects(conn, organization_id)
    return OrganizationDetail.model_validate({
        **_entry(row, with_contact=_sees_contact(roles)),
        "projects": [SignedProject.model_validate(p) for p in projects], "signed_amount_cny": total})


@router.patch("/organizations/{organization_id}", response_model=Organization, tags=["organizations"],
              dependencies=[NetworkRole], summary="Change a member's directory entry (name, country, kind, …)")
async def update(organization_id: str, body: OrganizationUpdate, uow: UowDep) -> Organization:
    row = await service.update(uow=uow, organization_id=organization_id, request=body)
    return Organization.model_validate(_entry(row, with_contact=True))


@router.post("/organizations/{organization_id}/suspend", response_model=OrganizationStatusOut,
             tags=["organizations"], dependencies=[NetworkRole], summary="Suspend an active member")
async def suspend(organization_id: str, uow: UowDep) -> OrganizationStatusOut:
    return OrganizationStatusOut(id=organization_id, status=await service.suspend(uow=uow,
                                                                                  organization_id=organization_id))


@router.post("/organizations/{organization_id}/reinstate", response_model=OrganizationStatusOut,
             tags=["organizations"], dependencies=[NetworkRole], summary="Reinstate a suspended member")
async def reinstate(organization_id: str, uow: UowDep) -> OrganizationStatusOut:
    status = await service.reinstate(uow=uow, organization_id=organization_id)
    return OrganizationStatusOut(id=organization_id, status=status)


@router.post("/organizations/{organization_id}/leave", response_model=OrganizationStatusOut,
             tags=["organizations"], dependencies=[NetworkRole], summary="A member leaves the network")
async def leave(organization_id: str, uow: UowDep) -> OrganizationStatusOut:
    status = await service.leave(uow=uow, organization_id=organization_id)
    return OrganizationStatusOut(id=organization_id, status=status)


@router.get("/stats", response_model=NetworkStats, tags=["stats"],
            summary="Active members and their countries, from this service's own tables")
async def stats(conn: ReadConnDep) -> NetworkStats:
    return NetworkStats(network=await service.network_figures(conn))
