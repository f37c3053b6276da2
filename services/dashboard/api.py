"""HTTP endpoints of the dashboard (all public: aggregate figures only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import TypeAdapter, ValidationError

from services.dashboard import service
from services.dashboard.schemas import Countries, CountryRow, Totals
from shared.deps import ReadConnDep
from shared.errors import DomainError, NotFound
from shared.events.types import CountryCode

router = APIRouter()
_country_code: TypeAdapter[str] = TypeAdapter(CountryCode)


class InvalidCountry(DomainError):
    status = 422
    code = "invalid_country"
    title = "Invalid country code"


@router.get("/totals", response_model=Totals, tags=["figures"],
            summary="Headline figures, per edition or all-time")
async def totals(conn: ReadConnDep,
                 edition_id: Annotated[str | None, Query(max_length=36)] = None) -> Totals:
    return await service.totals(conn, edition_id=edition_id)


@router.get("/countries", response_model=Countries, tags=["figures"], summary="Figures per country")
async def countries(conn: ReadConnDep) -> Countries:
    return Countries(items=await service.countries(conn))


@router.get("/countries/{code}", response_model=CountryRow, tags=["figures"])
async def country(code: str, conn: ReadConnDep) -> CountryRow:
    try:
        normalized = _country_code.validate_python(code)
    except ValidationError:
        raise InvalidCountry(f"{code!r} is not an ISO 3166-1 alpha-2 country code", field="code") from None
    rows = await service.countries(conn, country=normalized)
    if not rows:
        raise NotFound(f"no figures for {normalized} yet")
    return rows[0]

