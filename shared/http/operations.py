"""``/healthz``, ``/readyz`` and ``/metrics``: what operators and orchestrators ask every service."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.http.context import ServiceContext

READINESS_CHECK_SECONDS = 10.0


def operations_router(context: ServiceContext) -> APIRouter:
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


async def watch_readiness(context: ServiceContext) -> None:
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
