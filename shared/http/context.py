"""What a request handler or a background task of one service needs, built once by the app factory."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.tables import PlatformTables
from shared.messaging.bus import Bus
from shared.messaging.inbox import EventConsumer
from shared.messaging.outbox import Outbox, OutboxRelay
from shared.observability.metrics import PlatformMetrics
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass
class ServiceContext:
    """What a request handler or a background task of one service needs."""

    settings: ServiceSettings
    engine: AsyncEngine
    read_engine: AsyncEngine
    tables: PlatformTables
    outbox: Outbox
    bus: Bus
    metrics: PlatformMetrics
    consumers: list[EventConsumer] = field(default_factory=list)
    relay: OutboxRelay | None = None
    listeners: list[Callable[[], None]] = field(default_factory=list)
    # Started by the lifespan beside the relay and consumers; an app may add to it after creation.
    background: list[Callable[[ServiceContext], Any]] = field(default_factory=list)
    draining: bool = False
    # Called once when draining begins (e.g. the dashboard ends its /stream connections, which would
    # otherwise hold the shutdown until its timeout).
    on_draining: list[Callable[[], None]] = field(default_factory=list)

    def begin_draining(self) -> None:
        """Shutdown has begun: /readyz answers 503 from now on (the service still serves)."""
        if not self.draining:
            self.draining = True
            self.metrics.service_ready.set(0)
            log.info("%s draining: /readyz now answers 503", self.settings.service)
            for callback in list(self.on_draining):
                callback()

    def notify_applied(self) -> None:
        for listener in list(self.listeners):
            listener()
