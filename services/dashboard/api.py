"""HTTP endpoints of the dashboard (all public: aggregate figures only)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import TypeAdapter, ValidationError

from services.dashboard import service
from services.dashboard.domain import Span
from services.dashboard.schemas import Countries, CountryRow, Overview, Timeline, Totals
from services.dashboard.sse import ViewerStream, open_stream
from services.dashboard.stream import OverviewBroadcaster
from shared.errors import DomainError, NotFound
from shared.events.types import CountryCode
from shared.http.deps import ContextDep, ReadConnDep
from shared.http.security import CSP, SELF, page_policy

router = APIRouter()
STATIC_DIR = Path(__file__).parent / "static"
_LIVE_PAGE = STATIC_DIR / "index.html"
# Its fonts, flags and country names are files of the service too (static/fonts, static/flags, countries.json).
LIVE_PAGE_POLICY = page_policy(fonts=(SELF,))
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
async def countries(conn: ReadConnDep,
                    edition_id: Annotated[str | None, Query(max_length=36)] = None) -> Countries:
    return Countries(items=await service.countries(conn, edition_id=edition_id))


@router.get("/timeline", response_model=Timeline, tags=["figures"],
            summary="Registrations and check-ins over time: per day, or per ten minutes on the conference days")
async def timeline(conn: ReadConnDep, span: Span = Span.day,
                   edition_id: Annotated[str | None, Query(max_length=36)] = None) -> Timeline:
    return await service.timeline(conn, span=span, edition_id=edition_id)


@router.get("/overview", response_model=Overview, tags=["live page"],
            summary="What the live page shows: the current edition's figures, countries and Top-10 cases")
async def overview(conn: ReadConnDep) -> Overview:
    return await service.overview(conn, now=datetime.now(UTC))


@router.get("/stream", tags=["live page"], response_class=ViewerStream, status_code=200,
            summary="Server-Sent Events: `overview` and `totals` whenever the figures change",
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`event: totals` carries the /totals body of the current edition; "
                                            "`event: overview` the /overview body. A comment every 15 s keeps "
                                            "proxies from closing the connection."}})
async def stream(request: Request, context: ContextDep) -> Response:
    # Documents /stream; its GETs are answered before routing, by the same open_stream (app.py).
    broadcaster: OverviewBroadcaster = request.app.state.broadcaster
    return open_stream(broadcaster, send_timeout=context.settings.platform.stream_send_timeout_seconds)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def live_page() -> HTMLResponse:
    # Its script, styles, font and flags are files of the service (/static/...), the figures come from
    # /overview and /stream: nothing else may load, and nothing inline runs.
    return HTMLResponse(_LIVE_PAGE.read_text(encoding="utf-8"), headers={CSP: LIVE_PAGE_POLICY})


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

