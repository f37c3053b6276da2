"""Replicas the projects service keeps from other services' events, to check references locally."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from services.projects.domain import KnownEdition, KnownOrganization
from services.projects.repository import SqlReplicas
from shared.events import CloudEvent
from shared.events.network import OrganizationState
from shared.events.registration import EditionOpened
from shared.messaging.subscriptions import Subscriptions, subscribe


async def edition_opened(conn: AsyncConnection, _: CloudEvent, payload: EditionOpened) -> None:
    await SqlReplicas(conn).save_edition(
        KnownEdition(edition_id=payload.edition_id, number=payload.number, host=payload.host))


async def organization_changed(conn: AsyncConnection, _: CloudEvent, payload: OrganizationState) -> None:
    await SqlReplicas(conn).save_organization(KnownOrganization(
        organization_id=payload.organization_id, country=payload.country, status=payload.status))


SUBSCRIPTIONS = Subscriptions.of(
    subscribe(EditionOpened, edition_opened),
    subscribe(OrganizationState, organization_changed),  # every network event carries the member's state
)
