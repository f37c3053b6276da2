"""Prometheus metrics of one service; each app has its own registry (``conference run`` hosts four)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class PlatformMetrics:
    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "http_requests_total", "HTTP requests served, by route template, method and status class.",
            ["route", "method", "status"], registry=r)
        self.http_latency = Histogram(
            "http_request_duration_seconds", "HTTP request latency by route template.",
            ["route", "method"], buckets=LATENCY_BUCKETS, registry=r)
        self.events_published = Counter(
            "events_published_total", "Events published by the outbox relay.", ["topic", "type"], registry=r)
        self.events_consumed = Counter(
            "events_consumed_total", "Events applied by a consumer (duplicates excluded).",
            ["topic", "type"], registry=r)
        self.events_duplicate = Counter(
            "events_duplicate_total", "Redelivered events skipped by the inbox.", ["topic"], registry=r)
        self.events_retried = Counter(
            "events_retried_total", "Handler attempts that failed and were retried.", ["topic", "type"],
            registry=r)
        self.events_dead_lettered = Counter(
            "events_dead_lettered_total", "Events sent to a dead-letter topic.", ["topic", "reason"],
            registry=r)
        self.outbox_backlog = Gauge(
            "outbox_backlog_events", "Events written but not yet published.", registry=r)
        self.outbox_oldest_age = Gauge(
            "outbox_oldest_event_age_seconds", "Age of the oldest unpublished event.", registry=r)
        self.relay_batch = Histogram(
            "outbox_relay_batch_size", "Events per relay publish batch.",
            buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500), registry=r)
        self.relay_latency = Histogram(
            "outbox_relay_publish_seconds", "Time to publish one relay batch.", buckets=LATENCY_BUCKETS,
            registry=r)
        self.handler_latency = Histogram(
            "event_handler_duration_seconds", "Time to apply one batch of consumed events.",
            ["topic"], buckets=LATENCY_BUCKETS, registry=r)
        self.service_info = Gauge("service_info", "Which service this is.", ["service"], registry=r)
        self.service_info.labels(service=service).set(1)
