"""Configuration from the environment (DESIGN.md §6).

Platform-wide settings use the ``CONFERENCE_`` prefix; each service reads its database URL from
``<SERVICE>_DATABASE_URL`` and defaults to a SQLite file in the data directory.

Settings are checked when they are read: a mistake (bad JSON in ``CONFERENCE_TOKENS``, a role that
does not exist, an admin token missing where none may be made up) stops the process at start with
one line saying what to fix (:func:`configuration_problem`), instead of a platform that runs and
refuses every request.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from shared.files import write_private_once
from shared.topology import SERVICE_NAMES

# The roles a token can carry, defined once: ``require_role`` accepts only these (mypy checks the calls).
Role = Literal["admin", "registrar", "checkin", "projects", "network"]
ROLES: tuple[Role, ...] = get_args(Role)

# RFC 6750 b64token: what a client can send after "Bearer " without quoting.
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class ConfigurationError(Exception):
    """The configuration is wrong; the message is one line naming the variable and what to do."""


def _check_token(token: str, what: str) -> None:
    if not token.strip():
        raise ValueError(f"{what} is empty")
    if not _TOKEN.fullmatch(token):
        raise ValueError(f"{what} has characters a bearer token cannot carry "
                         "(allowed: letters, digits and - . _ ~ + / with trailing =)")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("a token appears twice; each token must appear once")
    return dict(pairs)


def _parse_tokens(value: object) -> dict[str, frozenset[str]]:
    """``CONFERENCE_TOKENS``: a JSON object ``{"token": ["role", …]}``. Messages never quote a token."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value, object_pairs_hook=_no_duplicate_keys)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
                             'expected an object like {"token": ["registrar"]}') from None
    if not isinstance(value, Mapping):
        raise ValueError(f'expected a JSON object like {{"token": ["registrar"]}}, not a {type(value).__name__}')
    parsed: dict[str, frozenset[str]] = {}
    for number, (token, roles) in enumerate(value.items(), start=1):
        what = f"token #{number}"
        if not isinstance(token, str):
            raise ValueError(f"{what} is not a string")
        _check_token(token, what)
        if not isinstance(roles, list | tuple | set | frozenset) or not all(isinstance(r, str) for r in roles):
            raise ValueError(f'{what}: roles must be a list of role names, e.g. ["registrar"], '
                             f"not a {type(roles).__name__}")
        if not roles:
            raise ValueError(f"{what} lists no role; give at least one of {', '.join(ROLES)}")
        unknown = sorted(set(roles) - set(ROLES))
        if unknown:
            raise ValueError(f"{what} has unknown role{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(repr(r) for r in unknown)}; roles are {', '.join(ROLES)}")
        parsed[token] = frozenset(roles)
    return parsed


def development_secret(path: Path, made_up: str, what: str, *, min_length: int = 1) -> str:
    """The secret kept at ``path`` (0600), or ``made_up`` written there the first time: only for the
    embedded development default (:meth:`PlatformSettings.beyond_embedded_default` is empty)."""
    if not path.exists():
        return write_private_once(path, made_up + "\n").strip()
    secret = path.read_text().strip()
    if len(secret) < min_length:
        problem = "empty" if not secret else "too short"
        raise ConfigurationError(f"{path} is {problem}: delete it and a new development {what} is made up")
    return secret


class PlatformSettings(BaseSettings):
    """Settings shared by every service process."""

    # Secrets live in these settings: a validation error must not echo the values.
    model_config = SettingsConfigDict(env_prefix="CONFERENCE_", extra="ignore", hide_input_in_errors=True)

    bus: Literal["embedded", "kafka"] = "embedded"
    kafka_bootstrap: str = "localhost:9092"
    data_dir: Path = Path("data")
    admin_token: str | None = None
    # HMAC key of delegates' personal links (services.registration.personal_links); required outside the
    # embedded development default, where one is made up and kept (0600) in the data dir.
    personal_link_secret: str | None = Field(default=None, min_length=32)
    # JSON object {token: [role, ...]} for tokens other than the admin one (a str of JSON or a mapping).
    tokens: Annotated[dict[str, frozenset[Role]], NoDecode, BeforeValidator(_parse_tokens)] = Field(
        default_factory=dict)
    # Prefixes topic and consumer-group names: lets a staging cluster or a test run share a broker.
    topic_prefix: str = ""
    topic_partitions: int = Field(default=4, ge=1, le=256)
    environment: Literal["development", "production"] = "development"
    # How often the outbox relay and consumers look for work when no wake-up arrives.
    poll_interval_seconds: float = Field(default=1.0, gt=0)
    handler_max_attempts: int = Field(default=3, ge=1)
    # How long an Idempotency-Key's stored answer is replayed; expired records are ignored and purged.
    idempotency_ttl_hours: float = Field(default=24.0, gt=0)

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
    # Requests one client address may make to a public write (self-registration) per process, in the
    # `limits` notation ("10/minute", "100/hour"); beyond it 429 with Retry-After.
    # Delegates of editions that ended more than this many days ago are erased automatically (issue 15);
    # unset: kept until erased on request.
    retention_days: int | None = Field(default=None, ge=1)
    public_rate_limit: str = Field(default="10/minute", pattern=r"^\d+\s*(/|per)\s*\d*\s*(second|minute|hour|day)s?$")

    @field_validator("admin_token")
    @classmethod
    def _admin_token_is_sendable(cls, value: str | None) -> str | None:
        if value is not None:
            _check_token(value, "the admin token")
        return value

    @model_validator(mode="after")
    def _admin_token_not_among_tokens(self) -> PlatformSettings:
        if self.admin_token is not None and self.admin_token in self.tokens:
            raise ValueError("CONFERENCE_TOKENS lists the admin token; give other roles their own tokens")
        return self

    @cached_property
    def token_roles(self) -> dict[str, frozenset[str]]:
        """Every accepted bearer token and the roles it carries."""
        roles: dict[str, frozenset[str]] = {token: frozenset(rs) for token, rs in self.tokens.items()}
        if self.admin_token:
            roles[self.admin_token] = frozenset({"admin"})
        return roles

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def beyond_embedded_default(self, *, on_postgres: bool = False) -> list[str]:
        """Why this is not the embedded development default (where secrets may be made up): each reason
        names the setting, e.g. ``CONFERENCE_BUS=kafka``; empty on the default."""
        return [reason for reason, applies in (
            ("CONFERENCE_ENVIRONMENT=production", self.environment == "production"),
            ("CONFERENCE_BUS=kafka", self.bus == "kafka"),
            ("a PostgreSQL database", on_postgres)) if applies]

    def ensure_admin_token(self, *, on_postgres: bool = False) -> str:
        """The admin token. Only on the embedded default (development, embedded bus, SQLite) is one made
        up when unset, and kept (0600) in the data dir; anywhere else it must be configured, the same for
        every process, so its absence is a :class:`ConfigurationError`."""
        if self.admin_token:
            return self.admin_token
        elsewhere = self.beyond_embedded_default(on_postgres=on_postgres)
        if elsewhere:
            raise ConfigurationError(
                f"CONFERENCE_ADMIN_TOKEN must be set with {' and '.join(elsewhere)}: a development token is "
                "made up only for the embedded bus on SQLite (e.g. CONFERENCE_ADMIN_TOKEN=$(openssl rand -hex 16))")
        token = development_secret(self.data_dir / ".dev-token", "dev-" + secrets.token_urlsafe(18), "token")
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
        return f"sqlite+inline:///{path}"

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    @property
    def consumer_group(self) -> str:
        return self.platform.topic(f"conference-{self.service}")


def configuration_problem(exc: Exception) -> str | None:
    """One line for a configuration mistake (``None`` if ``exc`` is not one): the variable, then what is
    wrong. Input values are never quoted; they may be secrets."""
    if isinstance(exc, ConfigurationError):
        return str(exc)
    if isinstance(exc, SettingsError):
        return str(exc).splitlines()[0]
    if isinstance(exc, ValidationError):
        prefix = _env_prefix(exc.title)
        if prefix is None:
            return None  # not the validation of settings
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            field = str(error["loc"][0]) if error["loc"] else ""
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{prefix}{field.upper()}: {message}" if field else message)
        return "; ".join(problems)
    return None


def _env_prefix(model_name: str) -> str | None:
    """The environment prefix of the settings class named ``model_name`` (a ValidationError's title), or
    ``None`` when no settings class has that name."""
    classes: list[type[BaseSettings]] = [BaseSettings]
    while classes:
        model = classes.pop()
        if model.__name__ == model_name:
            return str(model.model_config.get("env_prefix") or "")
        classes.extend(model.__subclasses__())
    return None
