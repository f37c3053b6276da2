"""Wires the dashboard: the read model's tables, routes and its consumer of all three topics."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from services.dashboard.api import STATIC_DIR, router
from services.dashboard.consumers import SUBSCRIPTIONS
from services.dashboard.metrics import install_business_metrics
from services.dashboard.models import READ_MODEL_CHANNEL, platform
from services.dashboard.refresher import SnapshotRefresher
from services.dashboard.sse import StreamEndpoint
from services.dashboard.stream import OverviewBroadcaster
from shared.db.notifications import listen_forever
from shared.http.app import create_service_app
from shared.http.context import ServiceContext
from shared.messaging.bus import Bus
from shared.settings import ServiceSettings

SERVICE_DIR = Path(__file__).parent


def create_app(settings: ServiceSettings | None = None, *, bus: Bus | None = None) -> FastAPI:
    settings = settings or ServiceSettings("dashboard")
    platform_settings = settings.platform
    # One snapshot of the read model, reloaded whenever the consumer has applied events, feeds both the
    # live page's pusher and the Prometheus gauges.
    broadcaster = OverviewBroadcaster(max_viewers=platform_settings.stream_max_viewers)
    stream = StreamEndpoint(broadcaster, send_timeout=platform_settings.stream_send_timeout_seconds)
    app = create_service_app(
        settings,
        title="Conference dashboard",
        description="The live figures the organisers announce, built only from the events of the "
                    "registration, projects and network topics. The live page is at `/`.",
        tables=platform, routers=[router], subscriptions=SUBSCRIPTIONS, publishes=False, bus=bus,
        held_streams={"/stream": stream},  # 10,000 viewers: each holds only what it needs
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")  # the live page's script and styles
    context: ServiceContext = app.state.context
    context.on_draining.append(broadcaster.close)  # a shutdown does not wait for the live pages
    refresher = SnapshotRefresher(context.read_engine, on_refresh=broadcaster.publish)
    context.listeners.append(refresher.changed)
    context.background.append(lambda _context: refresher.run())
    if context.read_engine.dialect.name == "postgresql":  # replicas: the others' commits refresh this one too
        context.background.append(
            lambda _context: listen_forever(context.read_engine.url, READ_MODEL_CHANNEL, refresher.changed))
    context.background.append(lambda _context: broadcaster.heartbeat())  # one keep-alive task for all viewers
    app.state.broadcaster = broadcaster
    install_business_metrics(app, refresher)
    return app
