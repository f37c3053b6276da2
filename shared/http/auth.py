"""Bearer-token authentication with roles. ``admin`` may do everything."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.security import HTTPBearer

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
