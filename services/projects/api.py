"""HTTP endpoints of the projects service."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from services.projects import domain, service
from services.projects.repository import SqlProjectsUnitOfWork
from services.projects.schemas import (
    Case,
    CaseCreate,
    CaseStatusOut,
    Project,
    ProjectAmend,
    ProjectCreate,
    ProjectWithdrawnOut,
)
from shared.db.pagination import CursorQuery, LimitQuery, Page
from shared.events.types import CountryCode, ProjectStatus, Sector, money_str
from shared.http.auth import require_role
from shared.http.deps import ContextDep, ReadConnDep, unit_of_work
from shared.stats import ProjectStats

ProjectsUowDep = Annotated[SqlProjectsUnitOfWork, Depends(unit_of_work(SqlProjectsUnitOfWork))]

router = APIRouter()
ProjectsRole = Depends(require_role("projects"))
EditionQuery = Annotated[str | None, Query(max_length=36)]

EXPORT_COLUMNS = ("id", "edition_id", "title", "sector", "status", "amount", "currency", "fx_rate_to_cny",
                  "amount_cny", "signed_on", "countries", "parties", "created_at", "amended_at", "withdrawn_at")
EXPORT_BATCH = 500


@router.post("/projects", status_code=201, response_model=Project, tags=["projects"],
             dependencies=[ProjectsRole], summary="Record a signed cooperation project")
async def sign_project(body: ProjectCreate, uow: ProjectsUowDep) -> Project:
    return Project.model_validate(await service.sign_project(uow=uow, request=body), from_attributes=True)


@router.get("/projects", response_model=Page[Project], tags=["projects"])
async def list_projects(
    conn: ReadConnDep,
    edition_id: EditionQuery = None,
    sector: Sector | None = None,
    status: ProjectStatus | None = None,
    country: CountryCode | None = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[Project]:
    rows, next_cursor = await service.list_projects(conn, edition_id=edition_id, sector=sector, status=status,
                                                    country=country, limit=limit, cursor=cursor)
    return Page[Project](items=[Project.model_validate(r, from_attributes=True) for r in rows], next_cursor=next_cursor)


# Declared before /projects/{project_id}, which would otherwise take "export.csv" for an id.
@router.get("/projects/export.csv", tags=["projects"], response_class=StreamingResponse,
            summary="The projects (same filters as the list) as CSV, one row per project",
            responses={200: {"content": {"text/csv": {}}}})
async def export_projects(
    context: ContextDep,
    edition_id: EditionQuery = None,
    sector: Sector | None = None,
    status: ProjectStatus | None = None,
    country: CountryCode | None = None,
) -> StreamingResponse:
    # Every row is read here, in batches, and the connection goes back to the pool before the first byte
    # is sent: a client that reads slowly holds only its rendered CSV, never a pooled connection.
    projects: list[domain.Project] = []
    async with context.read_engine.connect() as conn:
        after: str | None = None
        while True:
            rows = await service.export_rows(conn, edition_id=edition_id, sector=sector, status=status,
                                             country=country, after=after, batch=EXPORT_BATCH)
            projects.extend(rows)
            if len(rows) < EXPORT_BATCH:
                break
            after = rows[-1].id

    def lines() -> Iterator[str]:
        yield _csv_line(EXPORT_COLUMNS)
        for project in projects:
            yield _csv_line(_export_record(project))

    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="projects.csv"'})


def _export_record(project: domain.Project) -> list[str]:
    def text(value: date | None) -> str:
        return "" if value is None else value.isoformat()

    rate = project.fx_rate_to_cny
    return [
        project.id, project.edition_id, project.title, project.sector.value, project.status.value,
        money_str(project.amount), project.currency, "" if rate is None else f"{rate:f}",
        money_str(project.amount_cny), text(project.signed_on), ";".join(project.countries),
        "; ".join(f"{p.name} ({p.country})" for p in project.parties),
        text(project.created_at), text(project.amended_at), text(project.withdrawn_at),
    ]


def _csv_line(values: Iterable[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([_defused(v) for v in values])
    return buffer.getvalue()


def _defused(value: str) -> str:
    # A cell starting with = + - @ is a formula to a spreadsheet (CSV injection): quote it as text.
    # Money and dates never start with those (amounts are positive).
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@router.get("/projects/{project_id}", response_model=Project, tags=["projects"])
async def get_project(project_id: str, conn: ReadConnDep) -> Project:
    return Project.model_validate(await service.get_project(conn, project_id), from_attributes=True)


@router.patch("/projects/{project_id}", response_model=Project, tags=["projects"], dependencies=[ProjectsRole],
              summary="Amend a signed project (amount, currency and rate, sector, parties, title, date)")
async def amend_project(project_id: str, body: ProjectAmend, uow: ProjectsUowDep) -> Project:
    project = await service.amend_project(uow=uow, project_id=project_id, request=body)
    return Project.model_validate(project, from_attributes=True)


@router.post("/projects/{project_id}/withdraw", response_model=ProjectWithdrawnOut, tags=["projects"],
             dependencies=[ProjectsRole])
async def withdraw_project(project_id: str, uow: ProjectsUowDep) -> ProjectWithdrawnOut:
    project = await service.withdraw_project(uow=uow, project_id=project_id)
    return ProjectWithdrawnOut(id=project.id, status=project.status)


@router.post("/cases", status_code=201, response_model=Case, tags=["cases"], dependencies=[ProjectsRole],
             summary="Feature a case among the edition's Top 10 of Overseas Chinese Contribution")
async def feature_case(body: CaseCreate, uow: ProjectsUowDep) -> Case:
    return Case.model_validate(await service.feature_case(uow=uow, request=body), from_attributes=True)


@router.get("/cases", response_model=Page[Case], tags=["cases"],
            summary="The edition's featured cases in rank order (at most ten, one page)")
async def list_cases(conn: ReadConnDep, edition_id: Annotated[str, Query(min_length=1, max_length=36)]) -> Page[Case]:
    rows = await service.featured_cases(conn, edition_id=edition_id)
    return Page[Case](items=[Case.model_validate(r, from_attributes=True) for r in rows], next_cursor=None)


@router.get("/cases/{case_id}", response_model=Case, tags=["cases"])
async def get_case(case_id: str, conn: ReadConnDep) -> Case:
    return Case.model_validate(await service.get_case(conn, case_id), from_attributes=True)


@router.post("/cases/{case_id}/unfeature", response_model=CaseStatusOut, tags=["cases"],
             dependencies=[ProjectsRole], summary="Take a case out of the Top 10, freeing its rank")
async def unfeature_case(case_id: str, uow: ProjectsUowDep) -> CaseStatusOut:
    case = await service.unfeature_case(uow=uow, case_id=case_id)
    return CaseStatusOut(id=case.id, status=case.status)


@router.get("/stats", response_model=ProjectStats, tags=["stats"],
            summary="Signed projects and their value, from this service's own tables")
async def stats(conn: ReadConnDep, edition_id: EditionQuery = None) -> ProjectStats:
    return ProjectStats(projects=await service.project_stats(conn, edition_id=edition_id))
