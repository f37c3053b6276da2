"""Bearer-token authentication with roles. ``admin`` may do everything."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from starlette.routing import BaseRoute

from shared.errors import DomainError
from shared.http.routes import flat_routes
from shared.settings import ROLES, Role

__all__ = ["ROLES", "Access", "Forbidden", "Role", "RoleCheck", "Unauthenticated", "current_roles", "require_role"]
_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <token>`")


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"
    title = "Authentication required"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    title = "Not allowed for this token"


class RoleCheck:
    """The dependency :func:`require_role` makes. Its ``roles`` are the one record of who may call a route:
    the check below enforces them, ``shared.http.limits`` refuses an anonymous write from them before its
    body is read, and ``shared.http.openapi`` documents them (``security`` and the operation's text)."""

    # A delegate's personal link may stand in for the token (services.registration.personal_links).
    accepts_personal_link = False

    def __init__(self, roles: frozenset[str]) -> None:
        self.roles = roles

    async def __call__(self, request: Request) -> frozenset[str]:
        credentials = await _bearer(request)
        if credentials is None:
            raise Unauthenticated("send `Authorization: Bearer <token>`; this request changes data")
        token_roles: frozenset[str] | None = request.app.state.context.settings.platform.token_roles.get(
            credentials.credentials)
        if token_roles is None:
            raise Unauthenticated("the bearer token is not known to this service")
        if not token_roles & self.roles:
            raise Forbidden(f"this token lacks the role needed here (one of: {', '.join(sorted(self.roles))})")
        return token_roles


def require_role(*roles: Role) -> RoleCheck:
    """A dependency that lets the request through when the token carries one of ``roles`` (of ``ROLES``:
    the same set ``CONFERENCE_TOKENS`` is checked against at start) or ``admin``."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s) {sorted(unknown)}; roles are {', '.join(ROLES)}")
    return RoleCheck(frozenset(roles) | {"admin"})


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


@dataclass(frozen=True)
class Access:
    """Who may call a route, read from its dependency tree."""

    roles: frozenset[str] = frozenset()  # the token must hold one of them; empty: no token needed
    reads_token: bool = False  # an optional token shows more (``current_roles``: e.g. delegates without consent)
    personal_link: bool = False  # a personal link (``?token=`` or ``X-Personal-Token``) may stand in for the token

    @property
    def protected(self) -> bool:
        return bool(self.roles)


def access(dependant: Dependant) -> Access:
    """The :class:`Access` of a route from its dependency tree: its :class:`RoleCheck`, if any."""
    calls = [d.call for d in _walk(dependant)]
    role_checks = [call for call in calls if isinstance(call, RoleCheck)]
    checks = {call.roles for call in role_checks}
    if len(checks) > 1:  # "one of these, and one of those" is not a rule this platform has, nor documents
        raise ValueError(f"a route holds one role check, not {len(checks)}: {sorted(map(sorted, checks))}")
    return Access(roles=next(iter(checks), frozenset()), reads_token=current_roles in calls,
                  personal_link=any(call.accepts_personal_link for call in role_checks))


def route_table(routes: Sequence[BaseRoute]) -> list[tuple[Any, Access]]:
    """Every route, included routers flattened in the router's order, with who may call it.
    Each route offers ``matches(scope)``, ``path`` and ``methods``."""
    table: list[tuple[Any, Access]] = []
    for context in flat_routes(routes):
        dependant = getattr(context, "dependant", None)
        if not isinstance(dependant, Dependant) and isinstance(context.original_route, APIRoute):
            dependant = context.original_route.dependant
        table.append((context, access(dependant) if isinstance(dependant, Dependant) else Access()))
    return table


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _walk(dependency)
