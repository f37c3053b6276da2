"""Wires the dashboard: the read model's tables, routes and its consumer of all three topics."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.dashboard.api import router
from services.dashboard.consumers import SUBSCRIPTIONS
from services.dashboard.models import platform
from shared.app import create_service_app
from shared.bus import Bus
from shared.settings import ServiceSettings

SERVICE_DIR = Path(__file__).parent


def create_app(settings: ServiceSettings | None = None, *, bus: Bus | None = None) -> FastAPI:
    return create_service_app(
        settings or ServiceSettings("dashboard"),
        title="Conference dashboard",
        description="The live figures the organisers announce, built only from the events of the "
                    "registration, projects and network topics.",
        tables=platform, routers=[router], subscriptions=SUBSCRIPTIONS, publishes=False, bus=bus,
    )
