"""What each member signed, kept from the projects topic (never by calling the projects service)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from services.network.models import organization_projects
from shared.db.statements import upsert_replacing
from shared.events import CloudEvent
from shared.events.projects import ProjectState
from shared.messaging.subscriptions import Subscriptions, subscribe


async def project_changed(conn: AsyncConnection, _: CloudEvent, payload: ProjectState) -> None:
    """Every project event carries the project's full state, so each one replaces what we knew: rows for
    members no longer among its parties go, the others take the new sector, amount and status."""
    members = sorted(set(payload.organization_ids))
    stale = delete(organization_projects).where(organization_projects.c.project_id == payload.project_id)
    if members:
        stale = stale.where(organization_projects.c.organization_id.not_in(members))
    await conn.execute(stale)
    now = datetime.now(UTC)
    for organization_id in members:
        await conn.execute(upsert_replacing(conn, organization_projects, ["organization_id", "project_id"], {
            "organization_id": organization_id, "project_id": payload.project_id,
            "edition_id": payload.edition_id, "title": payload.title, "sector": payload.sector.value,
            "status": payload.status.value, "amount_cny": payload.amount_cny, "updated_at": now}))


# Project events only (signed, amended, withdrawn); the cases do not concern members.
SUBSCRIPTIONS = Subscriptions.of(subscribe(ProjectState, project_changed))
