"""The platform's services, defined once (DESIGN.md §1): name, default port, topic it publishes to.

The order is the start order: producers before the services that consume their topics.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    port: int
    topic: str | None  # the topic this service publishes to; None for the read-only dashboard

    def port_from(self, base_port: int) -> int:
        """This service's port when the dashboard listens on ``base_port`` (the others follow it)."""
        return base_port + self.port - DASHBOARD_PORT


DASHBOARD_PORT = 8000
SERVICES = (
    ServiceInfo("registration", 8001, "conference.registration"),
    ServiceInfo("projects", 8002, "conference.projects"),
    ServiceInfo("network", 8003, "conference.network"),
    ServiceInfo("dashboard", DASHBOARD_PORT, None),
)
SERVICE_NAMES = tuple(s.name for s in SERVICES)
SERVICE_PORTS = {s.name: s.port for s in SERVICES}
BY_NAME = {s.name: s for s in SERVICES}
# Producing service -> its topic (before any topic prefix).
TOPICS = {s.name: s.topic for s in SERVICES if s.topic is not None}
