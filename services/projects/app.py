"""Wires the projects service: its tables, routes, replicas and background work."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.projects.api import router
from services.projects.consumers import SUBSCRIPTIONS
from services.projects.models import platform
from shared.http.app import create_service_app
from shared.messaging.bus import Bus
from shared.settings import ServiceSettings

SERVICE_DIR = Path(__file__).parent


def create_app(settings: ServiceSettings | None = None, *, bus: Bus | None = None) -> FastAPI:
    return create_service_app(
        settings or ServiceSettings("projects"),
        title="Conference projects",
        description="Signed cooperation projects (exact yuan amounts) and the Top-10 cases. Checks "
                    "editions and network members against replicas built from events. Publishes to "
                    "`conference.projects`.",
        tables=platform, routers=[router], subscriptions=SUBSCRIPTIONS, bus=bus,
    )
