"""The real infrastructure the suites run against: deploy/local/postgres.sh and kafka.sh."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("registration", "projects", "network", "dashboard")


def _script(name: str, command: str, env: dict[str, str] | None = None) -> str:
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


class PrivateKafka:
    """A broker of one test's own (its own port and data), so stopping it disturbs no other test."""

    def __init__(self, state_dir: Path) -> None:
        port = _free_port_pair()
        self.env = {"CONFERENCE_KAFKA_PORT": str(port), "CONFERENCE_STATE_DIR": str(state_dir)}

    def start(self) -> dict[str, str]:
        _script("kafka.sh", "start", self.env)
        return _exports(_script("kafka.sh", "env", self.env))

    def stop(self) -> None:
        _script("kafka.sh", "stop", self.env)


def _free_port_pair() -> int:
    import socket

    while True:
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port: int = a.getsockname()[1]
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return port


def restart_postgres() -> None:
    _script("postgres.sh", "restart")


def _server_url(env: dict[str, str], database: str) -> str:
    url = make_url(env["REGISTRATION_DATABASE_URL"]).set(drivername="postgresql", database=database)
    return url.render_as_string(hide_password=False)


async def fresh_databases(env: dict[str, str]) -> dict[str, str]:
    """Four new empty databases (one per service) for one test; returns service -> SQLAlchemy URL."""
    run = f"t{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(_server_url(env, "postgres"))
    try:
        for service in SERVICES:
            await conn.execute(f'CREATE DATABASE "{run}_{service}"')
    finally:
        await conn.close()
    base = make_url(env["REGISTRATION_DATABASE_URL"])
    return {s: base.set(database=f"{run}_{s}").render_as_string(hide_password=False) for s in SERVICES}


def topic_prefix() -> str:
    """Topics of one test never meet another's (the broker is shared across runs)."""
    return f"t{uuid.uuid4().hex[:10]}."


def kafka_bootstrap(env: dict[str, str]) -> str:
    return env.get("CONFERENCE_KAFKA_BOOTSTRAP", os.environ.get("CONFERENCE_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
