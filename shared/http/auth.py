"""Bearer-token authentication with roles. ``admin`` may do everything."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import HTTPBearer
from starlette.routing import BaseRoute

from shared.errors import DomainError
from shared.settings import ROLES, Role

__all__ = ["ROLES", "Forbidden", "Role", "Unauthenticated", "current_roles", "require_role"]
_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <token>`")


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"
    title = "Authentication required"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    title = "Not allowed for this token"


def require_role(*roles: Role) -> Callable[..., Awaitable[frozenset[str]]]:
    """A dependency that lets the request through when the token carries one of ``roles`` (of ``ROLES``:
    the same set ``CONFERENCE_TOKENS`` is checked against at start)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s) {sorted(unknown)}; roles are {', '.join(ROLES)}")
    allowed = frozenset(roles) | {"admin"}

    async def check(request: Request) -> frozenset[str]:
        credentials = await _bearer(request)
        if credentials is None:
            raise Unauthenticated("send `Authorization: Bearer <token>`; this request changes data")
        token_roles: frozenset[str] | None = request.app.state.context.settings.platform.token_roles.get(
            credentials.credentials)
        if token_roles is None:
            raise Unauthenticated("the bearer token is not known to this service")
        if not token_roles & allowed:
            raise Forbidden(f"this token lacks the role needed here (one of: {', '.join(sorted(allowed))})")
        return token_roles

    return check


async def current_roles(request: Request) -> frozenset[str]:
    """The roles of the caller's token, or none for an anonymous (or unknown-token) request."""
    credentials = await _bearer(request)
    if credentials is None:
        return frozenset()
    roles: frozenset[str] = request.app.state.context.settings.platform.token_roles.get(
        credentials.credentials, frozenset())
    return roles


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme in any case), as HTTPBearer reads it."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def needs_role(dependant: Dependant) -> bool:
    """Whether a route (its dependency tree) holds a :func:`require_role` check."""
    return any("require_role" in getattr(d.call, "__qualname__", "") for d in _walk(dependant))


def route_table(routes: Sequence[BaseRoute]) -> list[tuple[Any, bool]]:
    """Every route, included routers flattened in the router's order, with whether it needs a role.
    Each route offers ``matches(scope)``, ``path`` and ``methods``."""
    table: list[tuple[Any, bool]] = []
    for context in iter_route_contexts(routes):
        dependant = getattr(context, "dependant", None)
        if not isinstance(dependant, Dependant) and isinstance(context.original_route, APIRoute):
            dependant = context.original_route.dependant
        table.append((context, isinstance(dependant, Dependant) and needs_role(dependant)))
    return table


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _walk(dependency)
