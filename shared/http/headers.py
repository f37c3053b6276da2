"""Reading request headers in pure ASGI middleware."""

from __future__ import annotations

from starlette.types import Scope


def header_value(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower case), or None when the request has none."""
    for key, value in scope.get("headers", ()):
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None
