"""What each member signed, kept from the projects topic (never by calling the projects service)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from services.network.domain import SignedProject
from services.network.repository import SqlSignedProjectRepository
from shared.events import CloudEvent
from shared.events.projects import ProjectState
from shared.messaging.subscriptions import Subscriptions, subscribe


async def project_changed(conn: AsyncConnection, _: CloudEvent, payload: ProjectState) -> None:
    """Every project event carries the project's full state, so each one replaces what we knew: rows for
    members no longer among its parties go, the others take the new sector, amount and status."""
    now = datetime.now(UTC)
    parties = [SignedProject(organization_id=organization_id, project_id=payload.project_id,
                             edition_id=payload.edition_id, title=payload.title, sector=payload.sector,
                             status=payload.status, amount_cny=payload.amount_cny, updated_at=now)
               for organization_id in sorted(set(payload.organization_ids))]
    await SqlSignedProjectRepository(conn).replace_parties(payload.project_id, parties)


# Project events only (signed, amended, withdrawn); the cases do not concern members.
SUBSCRIPTIONS = Subscriptions.of(subscribe(ProjectState, project_changed))
