"""FastAPI factory shared by the four services.

Gives every service ``/healthz``, ``/readyz``, ``/metrics``, ``/docs`` (Swagger UI from its own files),
problem+json errors, CORS, security headers, request ids and HTTP metrics, and runs its background work
(outbox relay, event consumers) in the lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from shared.db.engine import make_engine
from shared.db.tables import PlatformTables
from shared.http.context import ServiceContext
from shared.http.docs import install_docs
from shared.http.idempotency import IdempotencyMiddleware, purge_periodically
from shared.http.limits import RequestLimitsMiddleware
from shared.http.middleware import RequestMiddleware
from shared.http.openapi import document_problems
from shared.http.operations import operations_router, watch_readiness
from shared.http.problems import install_error_handlers
from shared.http.routes import RouteTemplates
from shared.http.security import SecurityHeadersMiddleware
from shared.http.server import ShutdownSettings
from shared.http.streams import HeldStreamsMiddleware
from shared.messaging.bus import Bus
from shared.messaging.bus.factory import open_bus
from shared.messaging.inbox import EventConsumer
from shared.messaging.outbox import Outbox, OutboxRelay
from shared.messaging.subscriptions import Subscriptions
from shared.messaging.supervise import Backoff, supervise
from shared.observability.logging import service_var
from shared.observability.metrics import PlatformMetrics
from shared.settings import ServiceSettings
from shared.topology import TOPICS

log = logging.getLogger(__name__)


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    tables: PlatformTables,
    routers: Sequence[APIRouter],
    subscriptions: Subscriptions | None = None,
    publishes: bool = True,
    bus: Bus | None = None,
    extra_background: Sequence[Callable[[ServiceContext], Any]] = (),
    held_streams: Mapping[str, ASGIApp] | None = None,
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

    if subscriptions:
        context.consumers.append(EventConsumer(
            group=settings.consumer_group, subscriptions=subscriptions, topic_prefix=platform.topic_prefix,
            bus=bus, engine=engine, processed=tables.processed_events, metrics=metrics,
            poll_interval=platform.poll_interval_seconds, max_attempts=platform.handler_max_attempts,
            on_applied=context.notify_applied))
    if publishes:
        lock_path = None if settings.is_postgres else platform.data_dir / f".{settings.service}.relay.lock"
        context.relay = OutboxRelay(outbox=outbox, engine=engine, database_url=settings.database_url, bus=bus,
                                    metrics=metrics, lock_path=lock_path,
                                    poll_interval=platform.poll_interval_seconds)

    templates = RouteTemplates(lambda: app.router.routes)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service_var.set(settings.service)  # background tasks inherit it: their log lines name the service
        metrics.declare_routes(templates)  # here, not in the factory: the dashboard mounts /static after it
        context.draining = False
        tasks: list[asyncio.Task[Any]] = []
        graceful: list[asyncio.Task[Any]] = []  # stopped by request, not cancelled (they drain first)
        topics = [platform.topic(t) for t in TOPICS.values()]
        tasks.append(asyncio.create_task(_ensure_topics(bus, topics), name="ensure-topics"))
        tasks.append(asyncio.create_task(watch_readiness(context), name=f"{settings.service}-readiness"))
        tasks.append(asyncio.create_task(purge_periodically(engine, tables.idempotency_keys),
                                         name=f"{settings.service}-idempotency-purge"))
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

    # /docs is served from the service's own files (shared.http.docs), not FastAPI's CDN-backed pages.
    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan, docs_url=None,
                  redoc_url=None, swagger_ui_oauth2_redirect_url=None,
                  # No OpenTelemetry here: off, FastAPI stops looking for a provider (os.environ) per request.
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.context = context
    # Outermost first: request id, metrics and log line; CORS (so refusals and replayed answers carry the
    # retry's CORS headers); the limits (size, bearer token) before anything reads the body; idempotency,
    # which buffers it and holds the write's transaction.
    app.add_middleware(IdempotencyMiddleware, engine=engine, table=tables.idempotency_keys,
                       ttl=timedelta(hours=platform.idempotency_ttl_hours))
    app.add_middleware(RequestLimitsMiddleware, settings=platform, routes=lambda: app.router.routes)
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"],
                       expose_headers=["X-Request-ID"])
    if held_streams:  # GETs of these paths skip everything from CORS inwards (shared.http.streams)
        app.add_middleware(HeldStreamsMiddleware, streams=held_streams)
    app.add_middleware(RequestMiddleware, metrics=metrics, templates=templates)
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: on every answer, a middleware's own too
    install_error_handlers(app)
    install_docs(app)
    app.include_router(operations_router(context))
    for router in routers:
        app.include_router(router)
    document_problems(app)  # every route's problem+json error responses, in one place
    return app


async def _ensure_topics(bus: Bus, topics: list[str]) -> None:
    created = False

    async def create(_: Backoff) -> None:
        nonlocal created
        await bus.ensure_topics(topics)
        created = True

    await supervise(create, name="topic creation", stopping=lambda: created,
                    on_error=lambda exc: log.warning("cannot create topics yet: %r", exc))
