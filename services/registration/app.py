"""Wires the registration service: its tables, routes and background work."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.registration.api import router
from services.registration.models import platform
from shared.http.app import create_service_app
from shared.messaging.bus import Bus
from shared.settings import ServiceSettings

SERVICE_DIR = Path(__file__).parent


def create_app(settings: ServiceSettings | None = None, *, bus: Bus | None = None) -> FastAPI:
    return create_service_app(
        settings or ServiceSettings("registration"),
        title="Conference registration",
        description="Editions and the Sichuan–Chongqing host rotation, delegates, badge check-in, "
                    "forums and field visits. Publishes to `conference.registration`.",
        tables=platform, routers=[router], bus=bus,
    )
