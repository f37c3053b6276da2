"""Held streams: a GET to one of a few paths goes straight to its raw ASGI app, skipping the layers a
connection held for hours does not need.

A ``/stream`` viewer keeps its whole call chain alive as long as it is connected: through CORS, the
limits, idempotency, Starlette's exception layers and FastAPI's routing (three exit stacks and the
dependencies) that was about 20 KiB per connection — 200 MB for 10,000 live-page viewers, for layers
that do nothing for a body-less GET. :class:`HeldStreamsMiddleware` sits inside the request middleware
(request id, metrics, log line) and the security headers, and in front of everything else: the
stream's app gets the request directly. What the skipped layers would have added it adds itself:
``Access-Control-Allow-Origin: *`` (CORS allows every origin). The FastAPI route stays, to document the
path in the OpenAPI schema; the request middleware labels the metrics by it (``shared.http.routes``).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CORS_HEADERS = [(b"access-control-allow-origin", b"*"), (b"access-control-expose-headers", b"X-Request-ID"),
                (b"vary", b"Origin")]


class HeldStreamsMiddleware:
    def __init__(self, app: ASGIApp, *, streams: Mapping[str, ASGIApp]) -> None:
        self.app = app
        self.streams = dict(streams)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = self.streams.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "GET" else None
        if stream is None:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *CORS_HEADERS]
            await send(message)

        await stream(scope, receive, send_with_cors)
