"""HTTP endpoints of the registration service: parse, call a use case, shape the answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from services.registration import service
from services.registration.schemas import (
    Delegate,
    DelegateCancelledOut,
    DelegateCreate,
    Edition,
    EditionCreate,
    NextEdition,
)
from shared.auth import require_role
from shared.deps import ReadConnDep, RolesDep, UowDep
from shared.events.types import CountryCode, DelegateStatus
from shared.pagination import CursorQuery, LimitQuery, Page
from shared.stats import DelegateStats

router = APIRouter()
Registrar = Depends(require_role("registrar"))
PRIVILEGED = frozenset({"admin", "registrar"})


def _edition(row: Any) -> Edition:
    return Edition.model_validate(row._mapping)


def _delegate(row: Any, roles: frozenset[str]) -> Delegate:
    data = dict(row._mapping)
    if not roles & PRIVILEGED:
        for personal in ("email", "phone", "badge_code"):
            data[personal] = None
    return Delegate.model_validate(data)


@router.post("/editions", status_code=201, response_model=Edition, tags=["editions"],
             dependencies=[Depends(require_role("registrar"))],
             summary="Open an edition (the rotation picks the host when omitted)")
async def open_edition(body: EditionCreate, uow: UowDep) -> Edition:
    return Edition.model_validate(await service.open_edition(uow=uow, request=body))


@router.get("/editions", response_model=Page[Edition], tags=["editions"], summary="All editions in order")
async def list_editions(conn: ReadConnDep) -> Page[Edition]:
    return Page[Edition](items=[_edition(r) for r in await service.list_editions(conn)], next_cursor=None)


@router.get("/editions/next", response_model=NextEdition, tags=["editions"],
            summary="Number and host of the next edition")
async def next_edition(conn: ReadConnDep) -> NextEdition:
    number, host = await service.next_edition(conn)
    return NextEdition(number=number, host=host)


@router.get("/editions/{edition_id}", response_model=Edition, tags=["editions"])
async def get_edition(edition_id: str, conn: ReadConnDep) -> Edition:
    return _edition(await service.get_edition(conn, edition_id))


@router.post("/delegates", status_code=201, response_model=Delegate, tags=["delegates"],
             summary="Register a delegate", dependencies=[Registrar])
async def register_delegate(body: DelegateCreate, uow: UowDep) -> Delegate:
    row = await service.register_delegate(uow=uow, request=body)
    return Delegate.model_validate(row)


@router.get("/delegates", response_model=Page[Delegate], tags=["delegates"])
async def list_delegates(
    conn: ReadConnDep, roles: RolesDep,
    edition_id: Annotated[str | None, Query(max_length=36)] = None,
    country: CountryCode | None = None,
    status: DelegateStatus | None = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[Delegate]:
    rows, next_cursor = await service.list_delegates(conn, edition_id=edition_id, country=country,
                                                     status=status, limit=limit, cursor=cursor)
    return Page[Delegate](items=[_delegate(r, roles) for r in rows], next_cursor=next_cursor)


@router.get("/delegates/{delegate_id}", response_model=Delegate, tags=["delegates"])
async def get_delegate(delegate_id: str, conn: ReadConnDep, roles: RolesDep) -> Delegate:
    return _delegate(await service.get_delegate(conn, delegate_id), roles)


@router.post("/delegates/{delegate_id}/cancel", response_model=DelegateCancelledOut, tags=["delegates"],
             dependencies=[Registrar])
async def cancel_delegate(delegate_id: str, uow: UowDep) -> DelegateCancelledOut:
    status = await service.cancel_delegate(uow=uow, delegate_id=delegate_id)
    return DelegateCancelledOut(id=delegate_id, status=status)


@router.get("/stats", response_model=DelegateStats, tags=["stats"],
            summary="Delegate figures from this service's own tables")
async def stats(conn: ReadConnDep,
                edition_id: Annotated[str | None, Query(max_length=36)] = None) -> DelegateStats:
    return DelegateStats(delegates=await service.delegate_figures(conn, edition_id=edition_id))
