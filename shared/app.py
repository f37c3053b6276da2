"""FastAPI factory shared by the four services.

Gives every service ``/healthz``, ``/readyz``, ``/metrics``, problem+json errors, CORS, request ids
and HTTP metrics, and runs its background work (outbox relay, event consumers) in the lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.bus import Bus, open_bus
from shared.db import database_unreachable, make_engine
from shared.errors import DomainError
from shared.events.catalogue import TOPICS
from shared.idempotency import IdempotencyMiddleware
from shared.inbox import BatchHandler, EventConsumer, Handler
from shared.lifecycle import ShutdownSettings
from shared.logging import get_logger, request_id_var, service_var
from shared.metrics import PlatformMetrics
from shared.openapi import document_problems
from shared.outbox import Outbox, OutboxRelay, UnitOfWork
from shared.settings import ServiceSettings
from shared.tables import PlatformTables

log = logging.getLogger(__name__)
request_log = get_logger("shared.http")
READINESS_CHECK_SECONDS = 10.0
PROBLEM = "application/problem+json"


@dataclass
class Subscription:
    """The events of other services this one consumes, and what to do with each type."""

    topics: Sequence[str]
    handlers: Mapping[str, Handler]
    group_suffix: str = ""
    # Optional fast path applying a whole batch at once; ``handlers`` remain the per-event fallback.
    batch_handler: BatchHandler | None = None


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

    def begin_draining(self) -> None:
        """Shutdown has begun: /readyz answers 503 from now on (the service still serves)."""
        if not self.draining:
            self.draining = True
            self.metrics.service_ready.set(0)
            log.info("%s draining: /readyz now answers 503", self.settings.service)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine, self.outbox)

    def notify_applied(self) -> None:
        for listener in list(self.listeners):
            listener()


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    tables: PlatformTables,
    routers: Sequence[APIRouter],
    subscriptions: Sequence[Subscription] = (),
    publishes: bool = True,
    bus: Bus | None = None,
    extra_background: Sequence[Callable[[ServiceContext], Any]] = (),
) -> FastAPI:
    metrics = PlatformMetrics(settings.service)
    engine = make_engine(settings.database_url)
    read_engine = make_engine(settings.database_url, read_only=True) if not settings.is_postgres else engine
    owns_bus = bus is None
    bus = bus or open_bus(settings.platform)
    outbox = Outbox(settings.service, tables, settings.platform.topic_prefix)
    context = ServiceContext(settings=settings, engine=engine, read_engine=read_engine, tables=tables,
                             outbox=outbox, bus=bus, metrics=metrics, background=list(extra_background))
    platform = settings.platform
    metrics.watch_pool("write", engine)
    metrics.watch_pool("read", read_engine)

    for sub in subscriptions:
        context.consumers.append(EventConsumer(
            group=settings.consumer_group + sub.group_suffix,
            topics=[platform.topic(t) for t in sub.topics], handlers=sub.handlers, bus=bus, engine=engine,
            processed=tables.processed_events, metrics=metrics,
            poll_interval=platform.poll_interval_seconds, max_attempts=platform.handler_max_attempts,
            on_applied=context.notify_applied, batch_handler=sub.batch_handler))
    if publishes:
        lock_path = None if settings.is_postgres else platform.data_dir / f".{settings.service}.relay.lock"
        context.relay = OutboxRelay(outbox=outbox, engine=engine, database_url=settings.database_url, bus=bus,
                                    metrics=metrics, lock_path=lock_path,
                                    poll_interval=platform.poll_interval_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service_var.set(settings.service)  # background tasks inherit it: their log lines name the service
        context.draining = False
        tasks: list[asyncio.Task[Any]] = []
        graceful: list[asyncio.Task[Any]] = []  # stopped by request, not cancelled (they drain first)
        topics = [platform.topic(t) for t in TOPICS.values()]
        tasks.append(asyncio.create_task(_ensure_topics(bus, topics), name="ensure-topics"))
        tasks.append(asyncio.create_task(_watch_readiness(context), name=f"{settings.service}-readiness"))
        if context.relay is not None:
            graceful.append(asyncio.create_task(context.relay.run(), name=f"{settings.service}-relay"))
            tasks.append(asyncio.create_task(context.relay.watch_backlog(), name=f"{settings.service}-backlog"))
        for consumer in context.consumers:
            graceful.append(asyncio.create_task(consumer.run(), name=consumer.group))
        for starter in context.background:
            tasks.append(asyncio.create_task(starter(context)))
        try:
            yield
        finally:
            # In-flight requests are done (uvicorn waited for them): let the relay publish what is
            # committed and the consumers commit their offsets, within a bound; then close the pools.
            context.begin_draining()
            if context.relay is not None:
                context.relay.request_stop()
            for consumer in context.consumers:
                consumer.request_stop()
            if graceful:
                _, late = await asyncio.wait(graceful, timeout=ShutdownSettings().timeout_seconds)
                for task in late:
                    log.warning("%s did not stop in time; cancelled", task.get_name())
            for task in (*tasks, *graceful):
                task.cancel()
            await asyncio.gather(*tasks, *graceful, return_exceptions=True)
            await engine.dispose()
            await read_engine.dispose()
            if owns_bus:
                await bus.close()

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.context = context
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"],
                       expose_headers=["X-Request-ID"])
    app.add_middleware(IdempotencyMiddleware, engine=engine, table=tables.idempotency_keys)
    app.add_middleware(RequestMiddleware, metrics=metrics)
    _install_error_handlers(app)
    app.include_router(_operations_router(context))
    for router in routers:
        app.include_router(router)
    document_problems(app)  # every route's problem+json error responses, in one place
    return app


async def _ensure_topics(bus: Bus, topics: list[str]) -> None:
    delay = 0.2
    while True:
        try:
            await bus.ensure_topics(topics)
            return
        except Exception as exc:
            log.warning("cannot create topics yet: %r", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def _operations_router(context: ServiceContext) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": context.settings.service}

    @router.get("/readyz", summary="Readiness: database and bus reachable, not shutting down",
                responses={503: {"description": "database or bus unreachable, or the service is draining"}})
    async def readyz() -> JSONResponse:
        if context.draining:
            return JSONResponse({"status": "draining", "checks": {}}, status_code=503)
        checks = await _readiness(context)
        ready = all(checks.values())
        return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks},
                            status_code=200 if ready else 503)

    @router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        return Response(generate_latest(context.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


async def _readiness(context: ServiceContext) -> dict[str, bool]:
    checks = {"database": await _database_ok(context.engine), "bus": await context.bus.ping()}
    if not context.draining:
        context.metrics.service_ready.set(1 if all(checks.values()) else 0)
    return checks


async def _watch_readiness(context: ServiceContext) -> None:
    """``service_ready`` stays current even when nobody calls /readyz."""
    while True:
        with contextlib.suppress(Exception):
            await _readiness(context)
        await asyncio.sleep(READINESS_CHECK_SECONDS)


async def _database_ok(engine: AsyncEngine) -> bool:
    try:
        async with asyncio.timeout(3):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def problem(status: int, title: str, detail: str, code: str, **extra: Any) -> JSONResponse:
    body = {"type": f"https://conference.example/problems/{code}", "title": title, "status": status,
            "detail": detail, "code": code, **extra}
    rid = request_id_var.get()
    if rid:
        body["request_id"] = rid
    headers = {"Retry-After": "2"} if status == 503 else None
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        extra = dict(exc.extra)
        if exc.status == 422 and "errors" not in extra:
            # DESIGN.md §5: every 422 carries its list of field errors, domain rules included.
            extra["errors"] = [{"field": str(extra.get("field", "body")), "message": exc.detail, "type": exc.code}]
        return problem(exc.status, exc.title, exc.detail, exc.code, **extra)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem(400, "Malformed JSON", "the request body is not valid JSON", "malformed_json")
        fields = [{"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body",
                   "message": str(e.get("msg")), "type": str(e.get("type"))} for e in errors]
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        return problem(422, "Invalid input", summary, "validation_failed", errors=fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return problem(exc.status_code, str(exc.detail), str(exc.detail), code)

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(OSError)
    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %r", exc)
        return problem(503, "Service unavailable", "the service's database is unreachable; retry shortly",
                       "database_unavailable")

    @app.exception_handler(DBAPIError)
    async def dbapi_error(_: Request, exc: DBAPIError) -> JSONResponse:
        if database_unreachable(exc):  # e.g. "the database system is shutting down" during a restart
            return problem(503, "Service unavailable", "the service's database is unreachable; retry shortly",
                           "database_unavailable")
        if getattr(exc.orig, "sqlstate", None) == "22021":  # character_not_in_repertoire: a NUL in text
            return problem(400, "Invalid characters", "the request holds a character that text cannot contain "
                           "(such as \\u0000); remove it and retry", "invalid_characters")
        log.exception("database error", exc_info=exc)
        return problem(500, "Internal error", "an unexpected database error occurred", "internal_error")

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem(500, "Internal error", "an unexpected error occurred; it has been logged",
                       "internal_error")


class RequestMiddleware:
    """Request id (``X-Request-ID``), HTTP metrics by route template, one JSON log line per request.
    Pure ASGI for speed."""

    def __init__(self, app: ASGIApp, metrics: PlatformMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _header(scope, b"x-request-id") or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        service_token = service_var.set(self.metrics.service)
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
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            elapsed = time.perf_counter() - started
            self.metrics.http_in_flight.dec()
            self.metrics.http_requests.labels(route=template, method=method, status=f"{status // 100}xx").inc()
            self.metrics.http_latency.labels(route=template, method=method).observe(elapsed)
            request_log.info("request", method=method, route=template, path=scope.get("path"), status=status,
                             duration_ms=round(elapsed * 1000, 2))
            service_var.reset(service_token)
            request_id_var.reset(token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            decoded: str = value.decode("latin-1")[:100]
            return decoded
    return None
