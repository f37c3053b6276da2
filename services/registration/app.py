"""Wires the registration service: its tables, routes and background work."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from services.registration import service
from services.registration.api import router
from services.registration.models import platform
from services.registration.repository import SqlRegistrationUnitOfWork
from shared.http.app import create_service_app
from shared.http.context import ServiceContext
from shared.messaging.bus import Bus
from shared.settings import ServiceSettings

SERVICE_DIR = Path(__file__).parent
RETENTION_INTERVAL_SECONDS = 3600.0  # retention counts in days: an hourly pass is prompt enough
log = logging.getLogger(__name__)


async def erase_expired_periodically(context: ServiceContext) -> None:
    """With ``CONFERENCE_RETENTION_DAYS`` set, erases the delegates of editions past it, at start and hourly.
    Every replica may run it: the rows are locked and erasing is idempotent."""
    days = context.settings.platform.retention_days
    if days is None:
        return
    while True:
        try:
            erased = await service.erase_expired(lambda: SqlRegistrationUnitOfWork(context.engine, context.outbox),
                                                 retention_days=days, now=datetime.now(UTC))
            if erased:
                log.info("retention: erased the personal data of %d delegates (editions ended over %d days ago)",
                         erased, days)
        except (OSError, SQLAlchemyError):  # the database away for a moment: the next pass catches up
            log.warning("retention pass failed; retrying in an hour", exc_info=True)
        await asyncio.sleep(RETENTION_INTERVAL_SECONDS)


def create_app(settings: ServiceSettings | None = None, *, bus: Bus | None = None) -> FastAPI:
    return create_service_app(
        settings or ServiceSettings("registration"),
        title="Conference registration",
        description="Editions and the Sichuan–Chongqing host rotation, delegates, badge check-in, "
                    "forums and field visits. Publishes to `conference.registration`.",
        tables=platform, routers=[router], bus=bus, extra_background=[erase_expired_periodically],
    )
