"""Services in-process for integration tests: the app with its lifespan behind an ASGI httpx client."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from devkit.processes import ADMIN_TOKEN
from services.cli import SERVICES
from shared.db.migrations import migrate
from shared.settings import PlatformSettings, ServiceSettings

ROLE_TOKENS = {"registrar-token": ["registrar"], "projects-token": ["projects"], "network-token": ["network"],
               "checkin-token": ["checkin"]}


def platform_settings(*, bus: str, data_dir: Path, topic_prefix: str, kafka_bootstrap: str = "127.0.0.1:9092",
                      **overrides: Any) -> PlatformSettings:
    return PlatformSettings(bus=bus, data_dir=data_dir, topic_prefix=topic_prefix, kafka_bootstrap=kafka_bootstrap,
                            admin_token=ADMIN_TOKEN, tokens=json.dumps(ROLE_TOKENS), **overrides)


@contextlib.asynccontextmanager
async def running_app(service: str, platform: PlatformSettings, database_url: str | None = None
                      ) -> AsyncIterator[FastAPI]:
    """The service's app, migrated, with its lifespan (relay, consumers) running."""
    settings = ServiceSettings(service, platform, database_url=database_url)
    create_app, service_dir = SERVICES[service]
    await migrate(service_dir, settings.database_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


def admin_client(app: FastAPI, service: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{service}",
                             headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


@contextlib.asynccontextmanager
async def running_service(service: str, platform: PlatformSettings, database_url: str | None = None
                          ) -> AsyncIterator[httpx.AsyncClient]:
    """The service's app with its lifespan (relay, consumers) running, behind an httpx client."""
    async with running_app(service, platform, database_url) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{service}",
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
            yield client
