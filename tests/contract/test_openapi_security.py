"""The OpenAPI documents declare the security the services enforce, as third-party clients read them.

Every service's live /openapi.json is a valid OpenAPI document (openapi-spec-validator). Then schemathesis
reads it, builds one request per operation from it and sends it to `conference run`, without a token
and with a token of each role: an operation that requires the bearer scheme answers 401 without a
token and 403 to each role its description does not name, both documented as the server sends them
(status, problem+json schema, headers: schemathesis's own checks); one that does not require it never
answers 401, and never 403 for want of a role.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devkit.processes import ADMIN_TOKEN, EmbeddedPlatform
from shared.topology import SERVICE_NAMES
from tests.support.inprocess import ROLE_TOKENS
from tests.support.operations import operations

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
OPTIONAL_BEARER: list[dict[str, list[str]]] = [{}, {"bearer": []}]
# The server's answer must be what the document says it can be, body and headers included.
DOCUMENTED = [status_code_conformance, content_type_conformance, response_schema_conformance,
              response_headers_conformance]


class _TokensPlatform(EmbeddedPlatform):
    """`conference run` that also knows one token per role (tests.support.inprocess.ROLE_TOKENS)."""

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, "CONFERENCE_TOKENS": json.dumps(ROLE_TOKENS)}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPlatform]:
    root: Path = tmp_path_factory.mktemp("openapi-security")
    running = _TokensPlatform(root / "data", root / "platform.log")
    asyncio.run(running.start())
    try:
        yield running
    finally:
        running.stop()


def document(platform: EmbeddedPlatform, service: str) -> dict[str, Any]:
    response = httpx.get(f"{platform.url(service)}/openapi.json", timeout=30)
    assert response.status_code == 200
    found: dict[str, Any] = response.json()
    return found


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def documented_roles(operation: dict[str, Any]) -> set[str]:
    """The roles the operation's description names in its "**Needs** a bearer token with the role …" line."""
    line = next((line for line in operation.get("description", "").splitlines() if line.startswith("**Needs**")), "")
    return set(re.findall(r"`(\w+)`", line))


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_document_is_valid_openapi(platform: EmbeddedPlatform, service: str) -> None:
    spec = document(platform, service)
    validate(spec)  # raises with the first violation of the OpenAPI 3.1 schema
    used = {name for item in spec["paths"].values() for op in item.values() for req in op.get("security", [])
            for name in req}
    assert used <= set(spec.get("components", {}).get("securitySchemes", {})), used


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_operation_declares_the_security_the_server_enforces(platform: EmbeddedPlatform, service: str) -> None:
    base_url = platform.url(service)
    schema = schemathesis.openapi.from_dict(document(platform, service))
    failures: list[str] = []
    protected = 0
    for operation in operations(schema, service):
        raw = operation.definition.raw
        security = raw.get("security")
        # Any value does for a path parameter: the token is checked before the entity is looked up.
        path_parameters = {p.name: "x" for p in operation.path_parameters}
        case = (operation.Case(path_parameters=path_parameters, body={}, media_type="application/json")
                if operation.body else operation.Case(path_parameters=path_parameters))

        def call(headers: dict[str, str], case: Any = case) -> Any:
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            case.validate_response(response, checks=DOCUMENTED)
            return response

        label = f"{operation.method.upper()} {operation.path}"
        anonymous = call({}).status_code
        if security == BEARER:
            protected += 1
            roles = documented_roles(raw)
            if anonymous != 401 or "admin" not in roles:
                failures.append(f"{label}: requires a token, anonymous got {anonymous}, roles named {roles}")
            for token, (role,) in ROLE_TOKENS.items():
                status = call(bearer(token)).status_code
                if (status == 403) != (role not in roles) or status == 401:
                    failures.append(f"{label}: documented for {sorted(roles)}, a `{role}` token got {status}")
        else:
            if security not in (None, OPTIONAL_BEARER) or documented_roles(raw):
                failures.append(f"{label}: unexpected security {security} / roles {documented_roles(raw)}")
            if anonymous in (401, 403):
                failures.append(f"{label}: documented without a required token, anonymous got {anonymous}")
        admin = call(bearer(ADMIN_TOKEN)).status_code
        if admin in (401, 403):
            failures.append(f"{label}: the admin token got {admin}")
    assert not failures, "\n".join(failures)
    assert protected or service == "dashboard", f"{service} documents no protected operation"
