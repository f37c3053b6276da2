"""The app's routes as one flat table, and which of them a request goes to, for labels.

FastAPI records the route it ran in ``scope["route"]`` only for its own ``APIRoute``s, and only once the
router has run. A request answered before routing (a 401 or 413 of ``shared.http.limits``, a CORS
preflight) or served by a plain Starlette route or mount (``/openapi.json``, ``/docs-assets``) has none;
:class:`RouteTemplates` finds its template the way Starlette's router would (the first full match, else
the first route whose path matches under another method, which Starlette answers 405).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fastapi.routing import RouteContext, iter_route_contexts
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

# A route without methods of its own (a mount of static files) is read with these.
MOUNT_METHODS = frozenset({"GET", "HEAD"})


def flat_routes(routes: Sequence[BaseRoute]) -> list[RouteContext]:
    """Every route, included routers flattened in the router's order."""
    return list(iter_route_contexts(routes))


def template(route: Any) -> str:
    """The path template a route is labelled with: ``/editions/{edition_id}``, ``/docs-assets/{path}``."""
    return str(getattr(route, "path_format", None) or route.path)


def route_methods(route: Any) -> frozenset[str]:
    return frozenset(getattr(route, "methods", None) or MOUNT_METHODS)


class RouteTemplates:
    """The template of the route a request goes to, from a table built on first use (the routers are all
    included by then)."""

    def __init__(self, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self._routes = routes
        self._table: list[RouteContext] | None = None

    def __iter__(self) -> Iterator[tuple[str, frozenset[str]]]:
        """Each route's template and methods."""
        for route in self._flat():
            yield template(route), route_methods(route)

    def of(self, scope: Scope, root_path: str) -> str | None:
        """The template of the route of a request that has been through the app, None when no route's path
        matches. ``root_path`` is the scope's before the app ran: a mount that matched has changed it."""
        route = scope.get("route")
        if route is not None:
            return template(route)
        request = {"type": scope["type"], "path": scope["path"], "method": scope.get("method"), "root_path": root_path}
        partial = None
        for candidate in self._flat():
            match, _ = candidate.matches(request)
            if match == Match.FULL:
                return template(candidate)
            if match == Match.PARTIAL and partial is None:
                partial = candidate
        return None if partial is None else template(partial)

    def _flat(self) -> list[RouteContext]:
        if self._table is None:
            self._table = flat_routes(self._routes())
        return self._table
