"""HTTP endpoints of the network service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from services.network import service
from services.network.schemas import Organization, OrganizationCreate, OrganizationStatusOut
from shared.auth import require_role
from shared.deps import ReadConnDep, UowDep
from shared.events.types import CountryCode, OrganizationKind, OrganizationStatus
from shared.pagination import CursorQuery, LimitQuery, Page
from shared.stats import NetworkStats

router = APIRouter()
NetworkRole = Depends(require_role("network"))


def _organization(row: Any) -> Organization:
    return Organization.model_validate(row._mapping)


@router.post("/organizations", status_code=201, response_model=Organization, tags=["organizations"],
             dependencies=[NetworkRole], summary="An organisation joins the Collaboration Network")
async def join(body: OrganizationCreate, uow: UowDep) -> Organization:
    return Organization.model_validate(await service.join(uow=uow, request=body))


@router.get("/organizations", response_model=Page[Organization], tags=["organizations"],
            summary="The public directory of members")
async def list_organizations(
    conn: ReadConnDep,
    country: CountryCode | None = None,
    kind: OrganizationKind | None = None,
    status: OrganizationStatus | None = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[Organization]:
    rows, next_cursor = await service.list_organizations(conn, country=country, kind=kind, status=status,
                                                         limit=limit, cursor=cursor)
    return Page[Organization](items=[_organization(r) for r in rows], next_cursor=next_cursor)


@router.get("/organizations/{organization_id}", response_model=Organization, tags=["organizations"])
async def get_organization(organization_id: str, conn: ReadConnDep) -> Organization:
    return _organization(await service.get_organization(conn, organization_id))


@router.post("/organizations/{organization_id}/leave", response_model=OrganizationStatusOut,
             tags=["organizations"], dependencies=[NetworkRole])
async def leave(organization_id: str, uow: UowDep) -> OrganizationStatusOut:
    status = await service.leave(uow=uow, organization_id=organization_id)
    return OrganizationStatusOut(id=organization_id, status=status)


@router.get("/stats", response_model=NetworkStats, tags=["stats"],
            summary="Active members and their countries, from this service's own tables")
async def stats(conn: ReadConnDep) -> NetworkStats:
    return NetworkStats(network=await service.network_figures(conn))
