"""Replicas the projects service keeps from other services' events, to check references locally."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from services.projects.models import known_editions, known_organizations
from shared.db.statements import upsert_replacing
from shared.events import CloudEvent
from shared.events.network import OrganizationState
from shared.events.registration import EditionOpened
from shared.messaging.subscriptions import Subscriptions, subscribe


async def edition_opened(conn: AsyncConnection, _: CloudEvent, payload: EditionOpened) -> None:
    await conn.execute(upsert_replacing(conn, known_editions, ["edition_id"], {
        "edition_id": payload.edition_id, "number": payload.number, "host": payload.host.value}))


async def organization_changed(conn: AsyncConnection, _: CloudEvent, payload: OrganizationState) -> None:
    await conn.execute(upsert_replacing(conn, known_organizations, ["organization_id"], {
        "organization_id": payload.organization_id, "country": payload.country,
        "status": payload.status.value}))


SUBSCRIPTIONS = Subscriptions.of(
    subscribe(EditionOpened, edition_opened),
    subscribe(OrganizationState, organization_changed),  # every network event carries the member's state
)
