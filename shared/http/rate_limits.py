"""Per-client rate limits of the public writes (self-registration): a FastAPI dependency on the `limits`
library's moving window, in the process's memory.

The client is the connection's address (uvicorn puts the proxy's client there when it trusts the proxy's
``X-Forwarded-For``). Each process counts on its own: with N replicas a client may make N times the limit,
which still bounds a flood; a shared store (Redis) is the step when that is not enough (docs/decisions.md).
"""

from __future__ import annotations

import math
import time

from fastapi import Request
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from shared.errors import DomainError


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.headers = {"Retry-After": str(retry_after)}


class ClientRateLimit:
    """A dependency: at most ``CONFERENCE_PUBLIC_RATE_LIMIT`` requests per client address to the routes
    that carry it (``scope`` names the bucket, so two routes do not share one)."""

    def __init__(self, scope: str) -> None:
        self.scope = scope

    def __call__(self, request: Request) -> None:
        limiter, item = _limiter(request)
        client = request.client.host if request.client else "unknown"
        if limiter.hit(item, self.scope, client):
            return
        reset_at, _ = limiter.get_window_stats(item, self.scope, client)
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise RateLimited(f"more than {item} from this address; retry in {retry_after} s",
                          retry_after=retry_after)


def _limiter(request: Request) -> tuple[MovingWindowRateLimiter, RateLimitItem]:
    """The app's limiter (one per app, so that apps in one process, as in tests, count apart)."""
    state = request.app.state
    found: tuple[MovingWindowRateLimiter, RateLimitItem] | None = getattr(state, "rate_limiter", None)
    if found is None:
        found = (MovingWindowRateLimiter(MemoryStorage()),
                 parse(state.context.settings.platform.public_rate_limit))
        state.rate_limiter = found
    return found
