"""Limits before work: what a request may cost is decided before its body is read.

:class:`RequestLimitsMiddleware` (pure ASGI, outside the idempotency middleware, which buffers bodies)

1. answers 413 at once when ``Content-Length`` is above ``CONFERENCE_MAX_BODY_BYTES``;
2. answers 401 (``WWW-Authenticate: Bearer``) to a write (POST, PATCH, PUT, DELETE) on a route that
   needs a role when the bearer token is missing or unknown, from the headers alone: an anonymous
   30 MB POST is never read, let alone parsed. The 403 (a known token without the role) stays with the
   route's ``require_role`` dependency;
3. counts the bytes of a body without ``Content-Length`` (chunked) as they arrive and stops at the
   limit with a 413, and answers 408 when the client stops sending a body for
   ``CONFERENCE_BODY_READ_TIMEOUT_SECONDS``.

A refused request's body is not read: uvicorn closes the connection after the answer, which cuts the
client's upload short.

File descriptors: every connection holds one, and a process that has none left can neither accept
``/healthz`` nor open its databases. :func:`connection_cap` keeps a quarter of the open-file limit (at
least 64) for everything but connections; ``shared.http.server`` closes a connection accepted beyond
it at once, and the dashboard admits live-page viewers up to half the limit.
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.http.auth import Access, bearer_token, route_table
from shared.http.headers import header_value
from shared.http.problems import send_problem
from shared.settings import PlatformSettings

WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
ROUTE_CACHE_SIZE = 4096


class _Refused(HTTPException):
    """Raised from ``receive`` when the body breaks a limit. An HTTPException, so that FastAPI's body
    parsing lets it through to the problem handlers; raised outside the app (the idempotency middleware
    reads bodies too), the limits middleware answers it."""

    def __init__(self, status: int, code: str, title: str, detail: str) -> None:
        super().__init__(status_code=status, detail=detail)
        self.status, self.code, self.title = status, code, title


def _carries_personal_link(scope: Scope) -> bool:
    query = scope.get("query_string", b"")
    return header_value(scope, b"x-personal-token") is not None or any(
        part.startswith(b"token=") for part in query.split(b"&"))


class RequestLimitsMiddleware:
    def __init__(self, app: ASGIApp, *, settings: PlatformSettings,
                 routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app = app
        self.settings = settings
        self._routes = routes
        self._table: list[tuple[Any, Access]] | None = None
        # Route matching walks every route (≈ 5 % of a write's CPU): its answer is kept per method and path.
        self._access: dict[tuple[str, str], Access | None] = {}

    def _needs_role(self, scope: Scope) -> bool:
        """Whether the route this request goes to (the first that matches fully) needs a role: not when it
        takes a personal link and the request carries one (the route's dependency checks it)."""
        key = (scope["method"], scope["path"])
        try:
            found = self._access[key]
        except KeyError:
            found = self._access_of(scope)
            if len(self._access) >= ROUTE_CACHE_SIZE:  # paths carry ids: bounded, not an LRU (a hit is the point)
                self._access.clear()
            self._access[key] = found
        return found is not None and found.protected and not (found.personal_link and _carries_personal_link(scope))

    def _access_of(self, scope: Scope) -> Access | None:
        if self._table is None:  # built on first use: the routers are all included by then
            self._table = route_table(self._routes())
        for route, access in self._table:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return access
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.settings.max_body_bytes
        declared = header_value(scope, b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await send_problem(send, 400, "Invalid Content-Length", "Content-Length must be a number of bytes",
                                   "invalid_content_length", close=True)
                return
            if length > limit:
                await send_problem(send, 413, "Request body too large",
                                   f"the request body is {length} bytes; this service accepts at most {limit}",
                                   "payload_too_large", close=True)
                return
        if scope.get("method") in WRITES and self._needs_role(scope):
            token = bearer_token(header_value(scope, b"authorization"))
            if token is None:
                await send_problem(send, 401, "Authentication required",
                                   "send `Authorization: Bearer <token>`; this request changes data",
                                   "unauthenticated", close=True)
                return
            if token not in self.settings.token_roles:
                await send_problem(send, 401, "Authentication required",
                                   "the bearer token is not known to this service", "unauthenticated", close=True)
                return

        received = 0
        complete = False
        timeout = self.settings.body_read_timeout_seconds
        started = False

        async def limited_receive() -> Message:
            nonlocal received, complete
            if complete:  # the body is in: what follows is a disconnect, whenever it comes (SSE waits for it)
                return await receive()
            try:
                async with asyncio.timeout(timeout):
                    message = await receive()
            except TimeoutError:
                raise _Refused(408, "body_timeout", "Request body timed out",
                               f"no part of the request body arrived for {timeout:g} s; send it again") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _Refused(413, "payload_too_large", "Request body too large",
                                   f"the request body is above {limit} bytes, the most this service accepts")
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _Refused as refused:
            if started:  # the app answered already and read the body afterwards: nothing left to say
                return
            await send_problem(send, refused.status, refused.title, refused.detail, refused.code, close=True)


def open_file_limit() -> int | None:
    """The process's soft ``RLIMIT_NOFILE`` (``ulimit -n``), None when unlimited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def connection_cap() -> int | None:
    """How many connections the process's servers may hold together, the rest of the descriptors
    being kept for databases, the bus and files; None when the open-file limit is unlimited."""
    limit = open_file_limit()
    if limit is None:
        return None
    return max(1, limit - max(64, limit // 4))
