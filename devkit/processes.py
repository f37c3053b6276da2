"""The platform's services as OS processes: ``conference serve <service>`` each on a fresh database, or
``conference run`` (all four, embedded mode) as one process, on free ports."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from devkit import stack
from devkit.ports import free_port
from devkit.waiting import eventually
from shared.topology import BY_NAME, SERVICE_NAMES

ADMIN_TOKEN = "test-admin-token"
PERSONAL_LINK_SECRET = "test-personal-link-secret-0123456789abcdef"


class ServiceProcess:
    """``conference serve <service>`` as a separate OS process, killable with SIGKILL."""

    def __init__(self, service: str, env: dict[str, str], log_dir: Path, *, max_open_files: int | None = None,
                 args: Sequence[str] = ()) -> None:
        self.service = service
        self.args = tuple(args)  # more options of `conference serve`, e.g. ("--workers", "2")
        self.env = env
        self.max_open_files = max_open_files  # ``ulimit -n`` of the process, when given
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
            [sys.executable, "-m", "services.cli", "serve", self.service, "--port", str(self.port), *self.args],
            env=self.process_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=None if self.max_open_files is None else self._limit_open_files)

    def _limit_open_files(self) -> None:
        assert self.max_open_files is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.max_open_files, self.max_open_files))

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


@dataclass
class ServiceProcesses:
    """What :func:`service_processes` started: the processes by service, their topic prefix and databases."""

    procs: dict[str, ServiceProcess]
    topic_prefix: str
    database_urls: dict[str, str]

    def __getitem__(self, service: str) -> ServiceProcess:
        return self.procs[service]

    def url(self, service: str) -> str:
        return self.procs[service].url

    @property
    def urls(self) -> dict[str, str]:
        return {s: p.url for s, p in self.procs.items()}


@contextlib.asynccontextmanager
async def service_processes(names: Iterable[str], postgres_env: Mapping[str, str], kafka_env: Mapping[str, str],
                            work_dir: Path, *, database_urls: Mapping[str, str] | None = None,
                            service_env: Mapping[str, Mapping[str, str]] | None = None, ready_timeout: float = 60.0,
                            service_args: Mapping[str, Sequence[str]] | None = None,
                            **extra_env: str) -> AsyncIterator[ServiceProcesses]:
    """``conference serve`` for each service, as OS processes on fresh PostgreSQL databases (``database_urls``
    replaces some) and a fresh topic prefix on Kafka, with ``extra_env`` for all and ``service_env`` (and
    ``service_args``, options of ``conference serve``) per service; ready when yielded, stopped and the fresh
    databases dropped after."""
    fresh = await stack.fresh_databases(postgres_env)
    try:
        urls = {**fresh, **(database_urls or {})}
        prefix = stack.topic_prefix()
        env = {**kafka_env, "CONFERENCE_TOPIC_PREFIX": prefix, "CONFERENCE_ADMIN_TOKEN": ADMIN_TOKEN,
               "CONFERENCE_PERSONAL_LINK_SECRET": PERSONAL_LINK_SECRET, "CONFERENCE_TOKENS": json.dumps({}),
               "CONFERENCE_DATA_DIR": str(work_dir / "data"),
               **{f"{s.upper()}_DATABASE_URL": url for s, url in urls.items()}, **extra_env}
        procs = {name: ServiceProcess(name, {**env, **(service_env or {}).get(name, {})}, work_dir,
                                      args=(service_args or {}).get(name, ())) for name in names}
        try:
            for p in procs.values():
                p.start()
            await asyncio.gather(*(p.wait_ready(timeout=ready_timeout) for p in procs.values()))
            yield ServiceProcesses(procs=procs, topic_prefix=prefix, database_urls=urls)
        finally:
            await asyncio.gather(*(asyncio.to_thread(p.stop) for p in procs.values()))
    finally:
        await stack.drop_databases(postgres_env, fresh.values())


class EmbeddedPlatform:
    """``conference run`` (all four services, embedded mode) as one OS process on free ports; with
    ``admin_token=None`` the platform makes up its development token (``data_dir/.dev-token``)."""

    def __init__(self, data_dir: Path, log_path: Path, *extra_args: str, admin_token: str | None = ADMIN_TOKEN
                 ) -> None:
        self.admin_token = admin_token
        self.data_dir = data_dir
        self.log_path = log_path
        self.extra_args = extra_args
        self.base = free_port(len(SERVICE_NAMES))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        env = {**os.environ, "CONFERENCE_DATA_DIR": str(self.data_dir), "CONFERENCE_BUS": "embedded"}
        env.pop("CONFERENCE_ADMIN_TOKEN", None)
        if self.admin_token is not None:  # a configured platform: its personal-link secret is configured too
            env["CONFERENCE_ADMIN_TOKEN"] = self.admin_token
            env.setdefault("CONFERENCE_PERSONAL_LINK_SECRET", PERSONAL_LINK_SECRET)
        for name in SERVICE_NAMES:
            env.pop(f"{name.upper()}_DATABASE_URL", None)
            env[f"{name.upper()}_URL"] = self.url(name)
        return env

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{BY_NAME[service].port_from(self.base)}"

    @property
    def urls(self) -> dict[str, str]:
        return {s: self.url(s) for s in SERVICE_NAMES}

    async def start(self, *extra_args: str) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "run", "--base-port", str(self.base), *self.extra_args,
             *extra_args], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        urls = list(self.urls.values())
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
