"""Configuration from the environment (DESIGN.md §6).

Platform-wide settings use the ``CONFERENCE_`` prefix; each service reads its database URL from
``<SERVICE>_DATABASE_URL`` and defaults to a SQLite file in the data directory.
"""

from __future__ import annotations

import json
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.topology import SERVICE_NAMES


class PlatformSettings(BaseSettings):
    """Settings shared by every service process."""

    model_config = SettingsConfigDict(env_prefix="CONFERENCE_", extra="ignore")

    bus: Literal["embedded", "kafka"] = "embedded"
    kafka_bootstrap: str = "localhost:9092"
    data_dir: Path = Path("data")
    admin_token: str | None = None
    # JSON object {token: [role, ...]} for tokens other than the admin one.
    tokens: str = "{}"
    # Prefixes topic and consumer-group names: lets a staging cluster or a test run share a broker.
    topic_prefix: str = ""
    topic_partitions: int = Field(default=4, ge=1, le=256)
    environment: Literal["development", "production"] = "development"
    # How often the outbox relay and consumers look for work when no wake-up arrives.
    poll_interval_seconds: float = Field(default=1.0, gt=0)
    handler_max_attempts: int = Field(default=3, ge=1)
    # How long an Idempotency-Key's stored answer is replayed; expired records are ignored and purged.
    idempotency_ttl_hours: float = Field(default=24.0, gt=0)

    @cached_property
    def token_roles(self) -> dict[str, frozenset[str]]:
        """Every accepted bearer token and the roles it carries."""
        raw = json.loads(self.tokens or "{}")
        roles = {str(token): frozenset(str(r) for r in rs) for token, rs in raw.items()}
        if self.admin_token:
            roles[self.admin_token] = frozenset({"admin"})
        return roles

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def ensure_admin_token(self) -> str:
        """The admin token; in development one is made up (and kept in the data dir) when unset."""
        if self.admin_token:
            return self.admin_token
        if self.environment == "production":
            raise RuntimeError("CONFERENCE_ADMIN_TOKEN must be set in production")
        path = self.data_dir / ".dev-token"
        if path.exists():
            token = path.read_text().strip()
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            token = "dev-" + secrets.token_urlsafe(18)
            path.write_text(token + "\n")
        self.admin_token = token
        self.__dict__.pop("token_roles", None)
        return token


class DatabaseSettings(BaseSettings):
    """``<SERVICE>_DATABASE_URL``; built with ``_env_prefix`` set to the service's prefix."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str | None = None


class ServiceSettings:
    """Everything one service needs: its name, its database and the platform settings."""

    def __init__(self, service: str, platform: PlatformSettings | None = None,
                 database_url: str | None = None) -> None:
        if service not in SERVICE_NAMES:
            raise ValueError(f"unknown service {service!r}; expected one of {', '.join(SERVICE_NAMES)}")
        self.service = service
        self.platform = platform or PlatformSettings()
        configured = database_url or DatabaseSettings(_env_prefix=f"{service.upper()}_").database_url
        self.database_url = configured or self._default_sqlite_url()

    def _default_sqlite_url(self) -> str:
        path = self.platform.data_dir.resolve() / f"{self.service}.db"
        return f"sqlite+aiosqlite:///{path}"

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    @property
    def consumer_group(self) -> str:
        return self.platform.topic(f"conference-{self.service}")
