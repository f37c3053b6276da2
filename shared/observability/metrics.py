"""Prometheus metrics of one service; each app has its own registry (``conference run`` hosts four).

Names follow the Prometheus conventions (``_total`` for counters, ``_seconds`` for durations, base
units). The full list, with what each one is for, is in ``docs/operations.md``; alerts and the
Grafana dashboard in ``deploy/`` query only these names (a test checks it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# The status classes a route's series start with; a 1xx or 3xx (a trailing-slash redirect) appears when sent.
STATUS_CLASSES = ("2xx", "4xx", "5xx")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Reasons an event goes to a dead-letter topic: a bounded set, so that a label never carries
# whatever text a poison message brought with it.
DEAD_LETTER_REASONS = (
    "handler_failed",
    "not a CloudEvents envelope",
    "unsupported specversion",
    "unknown event type",
    "payload violates its schema",
)


def dead_letter_reason_class(reason: str) -> str:
    """The bounded label value for a dead-letter reason text."""
    for known in DEAD_LETTER_REASONS:
        if known in reason:
            return known
    return "other"


class PlatformMetrics:
    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        r = self.registry
        # -- HTTP (RequestMiddleware) -------------------------------------------------------------
        self.http_requests = Counter(
            "http_requests_total", "HTTP requests served, by route template, method and status class.",
            ["route", "method", "status"], registry=r)
        self.http_latency = Histogram(
            "http_request_duration_seconds", "HTTP request latency by route template.",
            ["route", "method"], buckets=LATENCY_BUCKETS, registry=r)
        self.http_in_flight = Gauge(
            "http_requests_in_flight", "HTTP requests being served right now.", registry=r)
        # -- events: outbox relay -------------------------------------------------------------------
        self.events_published = Counter(
            "events_published_total", "Events published by the outbox relay.", ["topic", "type"], registry=r)
        self.outbox_backlog = Gauge(
            "outbox_backlog_events", "Events written to the outbox but not yet published.", registry=r)
        self.outbox_oldest_age = Gauge(
            "outbox_oldest_event_age_seconds", "Age of the oldest unpublished event (0 when the outbox is empty).",
            registry=r)
        self.relay_batch = Histogram(
            "outbox_relay_batch_size_events", "Events per relay publish batch.",
            buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500), registry=r)
        self.relay_latency = Histogram(
            "outbox_relay_publish_duration_seconds", "Time to publish one relay batch to the bus.",
            buckets=LATENCY_BUCKETS, registry=r)
        self.relay_errors = Counter(
            "outbox_relay_errors_total", "Times the relay paused because the bus or the database failed.",
            registry=r)
        self.relay_leader = Gauge(
            "outbox_relay_leader", "1 while this instance holds the relay lock of its service.", registry=r)
        # -- events: consumers ----------------------------------------------------------------------
        self.events_consumed = Counter(
            "events_consumed_total", "Events applied by a consumer (duplicates excluded).",
            ["topic", "type"], registry=r)
        self.events_duplicate = Counter(
            "events_duplicate_total", "Redelivered events skipped by the inbox.", ["topic"], registry=r)
        self.events_retried = Counter(
            "events_retried_total", "Handler attempts that failed and were retried.", ["topic", "type"],
            registry=r)
        self.events_dead_lettered = Counter(
            "events_dead_lettered_total", "Events sent to a dead-letter topic, by topic and reason.",
            ["topic", "reason"], registry=r)
        self.handler_latency = Histogram(
            "event_handler_duration_seconds", "Time to apply one consumed event, by topic and type.",
            ["topic", "type"], buckets=LATENCY_BUCKETS, registry=r)
        self.consumer_batch_latency = Histogram(
            "event_consumer_batch_duration_seconds", "Time to apply one polled batch in one transaction.",
            ["group"], buckets=LATENCY_BUCKETS, registry=r)
        self.consumer_lag = Gauge(
            "consumer_lag_events", "Events in a partition not yet read by the consumer group.",
            ["group", "topic", "partition"], registry=r)
        # -- lifecycle ------------------------------------------------------------------------------
        self.service_ready = Gauge(
            "service_ready", "1 while /readyz answers ready (database and bus reachable, not draining).",
            registry=r)
        self.service_info = Gauge("service_info", "Which service this is.", ["service"], registry=r)
        self.service_info.labels(service=service).set(1)
        self.service_started = Gauge(
            "service_start_time_seconds", "Unix time the service started.", registry=r)
        self.service_started.set(time.time())
        # -- process -----------------------------------------------------------------------------------
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        r.register(GC_COLLECTOR)

    # Series exist at 0 from the start, labelled with what the service serves, consumes and publishes: an
    # alert's ratio or increase() and a panel then see the first request or event, and a query for a
    # series that never moved (5xx, retries, duplicates) shows 0 instead of no data.

    def declare_routes(self, routes: Iterable[tuple[str, Iterable[str]]]) -> None:
        """Each (route template, methods) the app serves."""
        for route, methods in routes:
            for method in sorted(methods):
                self.http_latency.labels(route=route, method=method)
                for status in STATUS_CLASSES:
                    self.http_requests.labels(route=route, method=method, status=status)

    def declare_consumer(self, group: str, events: Iterable[tuple[str, str]]) -> None:
        """Each (topic, event type) consumer ``group`` applies."""
        self.consumer_batch_latency.labels(group=group)
        for topic, event_type in events:
            self.events_consumed.labels(topic=topic, type=event_type)
            self.events_retried.labels(topic=topic, type=event_type)
            self.handler_latency.labels(topic=topic, type=event_type)
            self.events_duplicate.labels(topic=topic)
            for reason in DEAD_LETTER_REASONS:
                self.events_dead_lettered.labels(topic=topic, reason=reason)

    def declare_publisher(self, events: Iterable[tuple[str, str]]) -> None:
        """Each (topic, event type) the outbox relay publishes."""
        for topic, event_type in events:
            self.events_published.labels(topic=topic, type=event_type)

    def register(self, collector: Collector) -> None:
        self.registry.register(collector)

    def watch_pool(self, name: str, engine: Any) -> None:
        """Database pool health of ``engine`` (a SQLAlchemy AsyncEngine), labelled ``pool=name``."""
        self._pools().engines[name] = engine

    def _pools(self) -> _PoolCollector:
        existing = getattr(self, "_pool_collector", None)
        if existing is None:
            existing = _PoolCollector()
            self._pool_collector = existing
            self.registry.register(existing)
        return existing


class _PoolCollector(Collector):
    """SQLAlchemy pool gauges, read at scrape time (cheap counters kept by the pool itself)."""

    def __init__(self) -> None:
        self.engines: dict[str, Any] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        readings: dict[str, Callable[[Any], float]] = {
            "db_pool_size_connections": lambda p: float(p.size()),
            "db_pool_checked_out_connections": lambda p: float(p.checkedout()),
            "db_pool_checked_in_connections": lambda p: float(p.checkedin()),
            "db_pool_overflow_connections": lambda p: float(max(p.overflow(), 0)),
        }
        helps = {
            "db_pool_size_connections": "Configured size of the database connection pool.",
            "db_pool_checked_out_connections": "Connections in use by requests or background work.",
            "db_pool_checked_in_connections": "Idle connections kept in the pool.",
            "db_pool_overflow_connections": "Connections open beyond the pool size (max_overflow).",
        }
        for name, read in readings.items():
            family = GaugeMetricFamily(name, helps[name], labels=["pool"])
            for pool_name, engine in _unique(self.engines.items()):
                pool = engine.sync_engine.pool
                try:
                    family.add_metric([pool_name], read(pool))
                except (AttributeError, TypeError):  # NullPool / StaticPool keep no such counts
                    continue
            yield family

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []


def _unique(items: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    seen: set[int] = set()
    for name, engine in items:
        if id(engine) in seen:
            continue
        seen.add(id(engine))
        yield name, engine
