"""The operations of a service's OpenAPI document as schemathesis reads them, for the contract suites."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from schemathesis.core.result import Err

# Server-Sent Events never end: not something a request-response client can read.
STREAMS = {("dashboard", "GET", "/stream")}


def operations(schema: Any, service: str) -> Iterator[Any]:
    """Every operation (a schemathesis ``APIOperation``) of ``service``'s document but its streams; a part of
    the document schemathesis cannot read fails the suite."""
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        if (service, operation.method.upper(), operation.path) not in STREAMS:
            yield operation
