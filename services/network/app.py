"""Wires the network service: its tables, routes and background work."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.network.api import router
from services.network.consumers import SUBSCRIPTIONS
from services.network.models import platform
from shared.http.app import create_service_app
from shared.messaging.bus import Bus
from shared.settings import ServiceSettings

SERVICE_DIR = Path(__file__).parent


def create_app(settings: ServiceSettings | None = None, *, bus: Bus | None = None) -> FastAPI:
    return create_service_app(
        settings or ServiceSettings("network"),
        title="Conference network",
        description="Member organisations of the Collaboration Network: join, suspend, reinstate, leave, "
                    "the public directory, and what each member signed (kept from `conference.projects`). "
                    "Publishes to `conference.network`.",
        tables=platform, routers=[router], subscriptions=SUBSCRIPTIONS, bus=bus,
    )
