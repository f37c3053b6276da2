"""The outermost request middleware: request ids, HTTP metrics, one log line per request."""

from __future__ import annotations

import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.http.headers import header_value
from shared.http.routes import RouteTemplates
from shared.observability.logging import get_logger, request_id_var, service_var
from shared.observability.metrics import PlatformMetrics

request_log = get_logger("shared.http")


class RequestMiddleware:
    """Request id (``X-Request-ID``), HTTP metrics by route template, one JSON log line per request.
    Pure ASGI for speed. A request whose path no route matches is labelled ``unmatched``."""

    def __init__(self, app: ASGIApp, metrics: PlatformMetrics, templates: RouteTemplates) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = (header_value(scope, b"x-request-id") or "")[:100] or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        service_token = service_var.set(self.metrics.service)
        root_path = scope.get("root_path", "")
        started = time.perf_counter()
        status = 500
        self.metrics.http_in_flight.inc()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            template = self.templates.of(scope, root_path) or "unmatched"
            method = scope.get("method", "GET")
            elapsed = time.perf_counter() - started
            self.metrics.http_in_flight.dec()
            self.metrics.http_requests.labels(route=template, method=method, status=f"{status // 100}xx").inc()
            self.metrics.http_latency.labels(route=template, method=method).observe(elapsed)
            request_log.info("request", method=method, route=template, path=scope.get("path"), status=status,
                             duration_ms=round(elapsed * 1000, 2))
            service_var.reset(service_token)
            request_id_var.reset(token)
