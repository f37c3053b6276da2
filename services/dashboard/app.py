"""Wires the dashboard: the read model's tables, routes and its consumer of all three topics."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.dashboard.api import router
from services.dashboard.consumers import SUBSCRIPTIONS
from services.dashboard.metrics import install_business_metrics
from services.dashboard.models import platform
from services.dashboard.stream import OverviewBroadcaster
from shared.http.app import create_service_app
from shared.messaging.bus import Bus
from shared.settings import ServiceSettings

SERVICE_DIR = Path(__file__).parent


def create_app(settings: ServiceSettings | None = None, *, bus: Bus | None = None) -> FastAPI:
    broadcasters: list[OverviewBroadcaster] = []
    app = create_service_app(
        settings or ServiceSettings("dashboard"),
        title="Conference dashboard",
        description="The live figures the organisers announce, built only from the events of the "
                    "registration, projects and network topics. The live page is at `/`.",
        tables=platform, routers=[router], subscriptions=SUBSCRIPTIONS, publishes=False, bus=bus,
        extra_background=[lambda _context: broadcasters[0].run()],
    )
    # The live page's pusher: recomputes the overview whenever the consumer has applied events.
    broadcaster = OverviewBroadcaster(app.state.context.read_engine)
    broadcasters.append(broadcaster)
    app.state.context.listeners.append(broadcaster.changed)
    app.state.broadcaster = broadcaster
    install_business_metrics(app)  # Prometheus gauges from the read model, refreshed after events
    return app
