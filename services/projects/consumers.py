"""Replicas the projects service keeps from other services' events, to check references locally."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from services.projects.models import known_editions, known_organizations
from shared.app import Subscription
from shared.db import upsert_replacing
from shared.events import CATALOGUE, CloudEvent
from shared.events.network import OrganizationState
from shared.events.registration import EditionOpened


async def edition_opened(conn: AsyncConnection, _: CloudEvent, payload: BaseModel) -> None:
    assert isinstance(payload, EditionOpened)
    await conn.execute(upsert_replacing(conn, known_editions, ["edition_id"], {
        "edition_id": payload.edition_id, "number": payload.number, "host": payload.host.value}))


async def organization_changed(conn: AsyncConnection, _: CloudEvent, payload: BaseModel) -> None:
    assert isinstance(payload, OrganizationState)
    await conn.execute(upsert_replacing(conn, known_organizations, ["organization_id"], {
        "organization_id": payload.organization_id, "country": payload.country,
        "status": payload.status.value}))


SUBSCRIPTIONS = [
    Subscription(
        topics=["conference.registration", "conference.network"],
        handlers={
            "conference.registration.edition_opened.v1": edition_opened,
            **{t: organization_changed for t, d in CATALOGUE.items() if d.service == "network"},
        },
    ),
]
