"""The real infrastructure: PostgreSQL and Kafka of deploy/local/postgres.sh and kafka.sh, shared ones and
private ones (a cluster or broker of one test's own), and fresh databases and topic prefixes on them."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.engine import make_url

from devkit.ports import free_port
from shared.db.notifications import asyncpg_dsn
from shared.topology import SERVICE_NAMES

ROOT = Path(__file__).resolve().parent.parent

# Every database and topic prefix this process makes starts with ``t<RUN>``, so that at its end the run
# removes exactly what it made (the shared broker and server outlive runs: thousands of leftover
# partitions once made the broker's start outlast its timeout) and never another run's.
RUN = uuid.uuid4().hex[:4]
_RUN_MARK = f"t{RUN}"


def _script(name: str, command: str, env: Mapping[str, str] | None = None) -> str:
    result = subprocess.run([str(ROOT / "deploy" / "local" / name), command], capture_output=True, text=True,
                            timeout=900, env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise RuntimeError(f"deploy/local/{name} {command} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def _exports(text: str) -> dict[str, str]:
    return dict(re.findall(r"^export (\w+)=(\S+)$", text, flags=re.M))


def start_postgres() -> dict[str, str]:
    _script("postgres.sh", "start")
    return _exports(_script("postgres.sh", "env"))


def start_kafka() -> dict[str, str]:
    _script("kafka.sh", "start")
    return _exports(_script("kafka.sh", "env"))


def restart_postgres() -> None:
    _script("postgres.sh", "restart")


class PrivateKafka:
    """A broker of one test's own (its own port and data), so stopping it disturbs no other test."""

    def __init__(self, state_dir: Path) -> None:
        port = free_port(2)  # the listener and the controller
        self.env = {"CONFERENCE_KAFKA_PORT": str(port), "CONFERENCE_STATE_DIR": str(state_dir)}

    def start(self) -> dict[str, str]:
        _script("kafka.sh", "start", self.env)
        return _exports(_script("kafka.sh", "env", self.env))

    def stop(self) -> None:
        _script("kafka.sh", "stop", self.env)


class PrivatePostgres:
    """A PostgreSQL cluster of one test's own (its own port and state directory), so that restarting it
    takes down one service's database and nobody else's."""

    def __init__(self) -> None:
        self.state_dir = Path(tempfile.mkdtemp(prefix="conference-faults-pg-"))
        self.env = {"CONFERENCE_PG_PORT": str(free_port()), "CONFERENCE_STATE_DIR": str(self.state_dir)}

    def start(self) -> dict[str, str]:
        _script("postgres.sh", "start", self.env)
        return _exports(_script("postgres.sh", "env", self.env))

    def stop(self) -> None:
        _script("postgres.sh", "stop", self.env)

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.state_dir, ignore_errors=True)


def server_url(env: Mapping[str, str], database: str = "postgres") -> str:
    """An asyncpg URL of ``database`` on the server of ``env`` (``postgres``: to create and drop databases)."""
    return asyncpg_dsn(make_url(env["REGISTRATION_DATABASE_URL"]).set(database=database))


async def fresh_databases(env: Mapping[str, str]) -> dict[str, str]:
    """Four new empty databases (one per service) for one test; returns service -> SQLAlchemy URL."""
    run = run_name()
    conn = await asyncpg.connect(server_url(env))
    try:
        for service in SERVICE_NAMES:
            await conn.execute(f'CREATE DATABASE "{run}_{service}"')
    finally:
        await conn.close()
    base = make_url(env["REGISTRATION_DATABASE_URL"])
    return {s: base.set(database=f"{run}_{s}").render_as_string(hide_password=False) for s in SERVICE_NAMES}


async def drop_databases(env: Mapping[str, str], urls: Iterable[str]) -> None:
    """Drop the databases of ``urls`` (made by :func:`fresh_databases` on the server of ``env``)."""
    conn = await asyncpg.connect(server_url(env))
    try:
        await _drop(conn, [str(make_url(url).database) for url in urls])
    finally:
        await conn.close()


async def _drop(conn: asyncpg.Connection, databases: Iterable[str]) -> None:
    for name in databases:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_name() -> str:
    return f"{_RUN_MARK}{uuid.uuid4().hex[:6]}"


def topic_prefix() -> str:
    """Topics of one test never meet another's (the broker is shared across runs)."""
    return f"{run_name()}."


async def remove_run_leftovers(postgres_env: Mapping[str, str] | None, kafka_env: Mapping[str, str] | None) -> str:
    """Drop every database and delete every topic this run made (also those of tests that stopped
    half-way); returns what was removed, for the run's log."""
    removed = []
    if postgres_env is not None:
        conn = await asyncpg.connect(server_url(postgres_env))
        try:
            names = [r["datname"] for r in await conn.fetch(
                "SELECT datname FROM pg_database WHERE starts_with(datname, $1)", _RUN_MARK)]
            await _drop(conn, names)
        finally:
            await conn.close()
        removed.append(f"{len(names)} databases")
    if kafka_env is not None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap(kafka_env))
        await admin.start()
        try:
            topics = [t for t in await admin.list_topics() if t.startswith(_RUN_MARK)]
            for i in range(0, len(topics), 200):
                await admin.delete_topics(topics[i:i + 200])
        finally:
            await admin.close()
        removed.append(f"{len(topics)} topics")
    return " and ".join(removed)


def kafka_bootstrap(env: Mapping[str, str]) -> str:
    return env.get("CONFERENCE_KAFKA_BOOTSTRAP", os.environ.get("CONFERENCE_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
