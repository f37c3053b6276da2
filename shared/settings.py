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

    # -- request limits (docs/operations.md, "Limits") --------------------------------------------------
    # A request body above this is answered 413 before it is read (Content-Length, or counted as it streams).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    # A body that stops arriving for this long is answered 408 (uvicorn has no body or header read timeout).
    body_read_timeout_seconds: float = Field(default=30.0, gt=0)
    # uvicorn's limit_concurrency: connections plus tasks per server beyond which it answers 503.
    max_concurrency: int = Field(default=4096, ge=1)
    # uvicorn's timeout_keep_alive: an idle keep-alive connection is closed after this many seconds.
    keep_alive_timeout_seconds: int = Field(default=5, ge=1)
    # uvicorn's h11_max_incomplete_event_size: the most header bytes buffered before a request line ends.
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)
    # Live-page viewers (/stream) one process serves at once; beyond it 503 with Retry-After. The
    # effective cap is also kept below the process's open-file limit (see services.dashboard.stream).
    stream_max_viewers: int = Field(default=2000, ge=1)
    # A /stream client that does not take an event within this many seconds is disconnected.
    stream_send_timeout_seconds: float = Field(default=10.0, gt=0)

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
