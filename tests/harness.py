"""Run services for tests: in-process (ASGI, for integration tests) or as real processes (e2e)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import httpx

from services.cli import SERVICES
from shared.db.migrations import migrate
from shared.settings import PlatformSettings, ServiceSettings
from shared.topology import BY_NAME, SERVICE_NAMES
from tests import stack

ADMIN_TOKEN = "test-admin-token"
ROLE_TOKENS = {"registrar-token": ["registrar"], "projects-token": ["projects"], "network-token": ["network"],
               "checkin-token": ["checkin"]}


def platform_settings(*, bus: str, data_dir: Path, topic_prefix: str, kafka_bootstrap: str = "127.0.0.1:9092",
                      **overrides: Any) -> PlatformSettings:
    import json

    return PlatformSettings(bus=bus, data_dir=data_dir, topic_prefix=topic_prefix, kafka_bootstrap=kafka_bootstrap,
                            admin_token=ADMIN_TOKEN, tokens=json.dumps(ROLE_TOKENS), **overrides)


@contextlib.asynccontextmanager
async def running_service(service: str, platform: PlatformSettings, database_url: str | None = None
                          ) -> AsyncIterator[httpx.AsyncClient]:
    """The service's app with its lifespan (relay, consumers) running, behind an httpx client."""
    settings = ServiceSettings(service, platform, database_url=database_url)
    create_app, service_dir = SERVICES[service]
    await migrate(service_dir, settings.database_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{service}",
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout: float = 30.0,
                     interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns a truthy value (or stops raising AssertionError)."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = await check()
            if result:
                return result
        except AssertionError as exc:
            last = exc
        await asyncio.sleep(interval)
    if last is not None:
        raise last
    raise AssertionError(f"condition not met within {timeout}s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServiceProcess:
    """``conference serve <service>`` as a separate OS process, killable with SIGKILL."""

    def __init__(self, service: str, env: dict[str, str], log_dir: Path) -> None:
        self.service = service
        self.env = env
        self.port = free_port()
        self.log_path = log_dir / f"{service}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def process_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", self.service, "--port", str(self.port)],
            env=self.process_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    async def wait_ready(self, timeout: float = 60.0) -> None:
        async with httpx.AsyncClient() as client:
            async def ready() -> bool:
                assert self.process is not None and self.process.poll() is None, (
                    f"{self.service} exited:\n{self.log_path.read_text()[-3000:]}")
                try:
                    return (await client.get(f"{self.url}/healthz", timeout=1)).status_code == 200
                except httpx.HTTPError:
                    return False
            await eventually(ready, timeout=timeout, interval=0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush — a crash."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.asynccontextmanager
async def service_processes(names: Iterable[str], postgres_env: dict[str, str], kafka_env: dict[str, str],
                            work_dir: Path, **extra_env: str) -> AsyncIterator[dict[str, ServiceProcess]]:
    """``conference serve`` for each service, as OS processes on fresh PostgreSQL databases and a fresh
    topic prefix on Kafka; ready when yielded, stopped after."""
    databases = await stack.fresh_databases(postgres_env)
    env = {**kafka_env, "CONFERENCE_TOPIC_PREFIX": stack.topic_prefix(), "CONFERENCE_ADMIN_TOKEN": ADMIN_TOKEN,
           "CONFERENCE_TOKENS": json.dumps({}), "CONFERENCE_DATA_DIR": str(work_dir / "data"),
           **{f"{s.upper()}_DATABASE_URL": url for s, url in databases.items()}, **extra_env}
    procs = {name: ServiceProcess(name, env, work_dir) for name in names}
    try:
        for p in procs.values():
            p.start()
        for p in procs.values():
            await p.wait_ready()
        yield procs
    finally:
        for p in procs.values():
            p.stop()


class EmbeddedPlatform:
    """``conference run`` (all four services, embedded mode) as one OS process on free ports."""

    def __init__(self, data_dir: Path, log_path: Path, *extra_args: str) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.extra_args = extra_args
        self.base = _free_base_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        env = {**os.environ, "CONFERENCE_DATA_DIR": str(self.data_dir), "CONFERENCE_ADMIN_TOKEN": ADMIN_TOKEN,
               "CONFERENCE_BUS": "embedded"}
        for name in SERVICE_NAMES:
            env.pop(f"{name.upper()}_DATABASE_URL", None)
            env[f"{name.upper()}_URL"] = self.url(name)
        return env

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{BY_NAME[service].port_from(self.base)}"

    async def start(self, *extra_args: str) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "run", "--base-port", str(self.base), *self.extra_args,
             *extra_args], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        urls = [self.url(s) for s in SERVICE_NAMES]
        async with httpx.AsyncClient() as client:
            async def up() -> bool:
                assert self.process is not None and self.process.poll() is None, self.log_path.read_text()[-3000:]
                try:
                    return all([(await client.get(f"{u}/healthz", timeout=2)).status_code == 200 for u in urls])
                except httpx.HTTPError:
                    return False
            await eventually(up, timeout=90, interval=0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def _free_base_port() -> int:
    while True:
        base = free_port()
        if base + len(SERVICE_NAMES) < 65535 and all(_port_free(base + i) for i in range(len(SERVICE_NAMES))):
            return base


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False
