"""HTTP endpoints of the projects service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.projects import service
from services.projects.schemas import Project, ProjectCreate, ProjectWithdrawnOut
from shared.auth import require_role
from shared.deps import ReadConnDep, UowDep
from shared.events.types import CountryCode, ProjectStatus, Sector
from shared.pagination import CursorQuery, LimitQuery, Page
from shared.stats import ProjectStats

router = APIRouter()
ProjectsRole = Depends(require_role("projects"))


@router.post("/projects", status_code=201, response_model=Project, tags=["projects"],
             dependencies=[ProjectsRole], summary="Record a signed cooperation project")
async def sign_project(body: ProjectCreate, uow: UowDep) -> Project:
    return Project.model_validate(await service.sign_project(uow=uow, request=body))


@router.get("/projects", response_model=Page[Project], tags=["projects"])
async def list_projects(
    conn: ReadConnDep,
    edition_id: Annotated[str | None, Query(max_length=36)] = None,
    sector: Sector | None = None,
    status: ProjectStatus | None = None,
    country: CountryCode | None = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[Project]:
    rows, next_cursor = await service.list_projects(conn, edition_id=edition_id, sector=sector, status=status,
                                                    country=country, limit=limit, cursor=cursor)
    return Page[Project](items=[Project.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/projects/{project_id}", response_model=Project, tags=["projects"])
async def get_project(project_id: str, conn: ReadConnDep) -> Project:
    return Project.model_validate(await service.get_project(conn, project_id))


@router.post("/projects/{project_id}/withdraw", response_model=ProjectWithdrawnOut, tags=["projects"],
             dependencies=[ProjectsRole])
async def withdraw_project(project_id: str, uow: UowDep) -> ProjectWithdrawnOut:
    return ProjectWithdrawnOut(id=project_id, status=await service.withdraw_project(uow=uow, project_id=project_id))


@router.get("/stats", response_model=ProjectStats, tags=["stats"],
            summary="Signed projects and their value, from this service's own tables")
async def stats(conn: ReadConnDep,
                edition_id: Annotated[str | None, Query(max_length=36)] = None) -> ProjectStats:
    return ProjectStats(projects=await service.project_stats(conn, edition_id=edition_id))
