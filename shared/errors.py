"""Errors a client can act on. Each domain rule raises its own subclass; app.py maps them to HTTP."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A broken business rule: becomes an RFC 9457 problem with ``status`` and ``code``."""

    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
        # Response headers the problem needs beside its body (e.g. Retry-After on a 429).
        self.headers: dict[str, str] = {}


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class UnknownReference(DomainError):
    """The request names something this service does not know (perhaps not *yet*: retry)."""

    status = 422
    code = "unknown_reference"
    title = "Unknown reference"


class InvalidTransition(Conflict):
    code = "invalid_transition"
    title = "Not allowed in the current state"
