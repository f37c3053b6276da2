"""Small pieces of the operations work: the YAML emitter of the AsyncAPI export, the PromQL name
extraction the dashboard/alert check relies on, dead-letter reason classes, the graceful server."""

from __future__ import annotations

import uvicorn
import yaml

from shared.events.asyncapi import to_yaml
from shared.http.server import GracefulServer
from shared.observability.metrics import DEAD_LETTER_REASONS, PlatformMetrics, dead_letter_reason_class
from tests.support.ops import metric_names


def test_the_yaml_emitter_round_trips_awkward_values() -> None:
    document = {
        "plain": "conference.registration", "reserved": ["yes", "No", "null", "true", "~", "on"],
        "numbers": ["1.0", "3.0.0", "-1", "0x10", "1e3"], "real": [1, -1, 2.5, True, False, None],
        "punctuation": ["a: b", "#/components/x", "$message.payload#/id", "- dash", "x #y", "{group}", "a,b"],
        "unicode": "会议 — Chongqing", "lines": "one\ntwo", "$ref": "#/x", "empty": {}, "none": [],
        "nested": [{"a": 1, "b": [{"c": "d"}]}, ["x", ["y"]]], "spaces": " leading", "trailing ": "x ",
    }
    assert yaml.safe_load(to_yaml(document)) == document


def test_metric_names_ignore_functions_labels_and_ranges() -> None:
    expr = ('histogram_quantile(0.95, sum by (job, le) (rate(http_request_duration_seconds_bucket'
            '{job=~"$service", route="/x"}[5m]))) > 0.5 and on () hour() < 12 '
            'or sum without (instance) (increase(events_total[1h] offset 1d)) / ignoring(x) up == bool 0')
    assert metric_names(expr) == {"http_request_duration_seconds_bucket", "events_total", "up"}


def test_dead_letter_reasons_are_a_bounded_set() -> None:
    assert dead_letter_reason_class("handler_failed: RuntimeError: boom") == "handler_failed"
    assert dead_letter_reason_class("unknown event type 'x.y.z' from somewhere") == "unknown event type"
    assert dead_letter_reason_class("conference.a.b.v1 payload violates its schema: x") == "payload violates its schema"
    assert dead_letter_reason_class("anything else") == "other"
    assert len(DEAD_LETTER_REASONS) == len(set(DEAD_LETTER_REASONS))


def test_registries_are_independent_per_service() -> None:
    a, b = PlatformMetrics("registration"), PlatformMetrics("dashboard")
    a.http_requests.labels(route="/x", method="GET", status="2xx").inc()
    assert b.registry.get_sample_value("http_requests_total", {"route": "/x", "method": "GET", "status": "2xx"}) is None
    assert a.registry.get_sample_value("process_cpu_seconds_total") is not None
    assert a.registry.get_sample_value("service_info", {"service": "registration"}) == 1


def test_the_first_signal_drains_and_the_second_forces() -> None:
    drained: list[int] = []

    async def app(scope: object, receive: object, send: object) -> None:
        return None

    server = GracefulServer(uvicorn.Config(app), on_drain=[lambda: drained.append(1)], drain_seconds=5)
    server.handle_exit(15, None)
    assert drained == [1] and not server.should_exit  # still serving while /readyz says 503
    assert server._captured_signals == []  # not re-raised after a clean exit: exit code 0
    server.handle_exit(15, None)
    assert server.should_exit and server.force_exit and drained == [1]
