"""The error responses of every service, documented once (DESIGN.md §5).

Every 4xx/5xx a service sends is an RFC 9457 ``application/problem+json`` document. Rather than
repeating ``responses=`` on each route, :func:`document_problems` adds to each operation of the
OpenAPI document the problem statuses it can answer, derived from what the operation takes:

- parameters or a body: 400 (malformed JSON, characters text cannot hold) and 422 (field errors);
- a path parameter: 404; a write (POST, PATCH, PUT, DELETE): 409 (state conflicts, a reused
  ``Idempotency-Key``), and POST documents the optional ``Idempotency-Key`` header;
- a body: 413 above ``CONFERENCE_MAX_BODY_BYTES`` and 408 when it stops arriving (``shared.http.limits``);
- a role to hold (its ``require_role`` check, read by :func:`shared.http.auth.route_table`, the same
  table the limits middleware refuses anonymous writes from): ``security: [{"bearer": []}]``, the roles
  in its description, and 401 (with ``WWW-Authenticate``) and 403; an operation that reads an optional
  token (``current_roles``) has ``security: [{}, {"bearer": []}]``, so that clients and Swagger UI's
  *Authorize* send the token they have without requiring one; any other has no security at all;
- anything touching the database: 503 ``database_unavailable`` with ``Retry-After``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from shared.http.auth import Access, route_table
from shared.http.idempotency import MAX_KEY_LENGTH
from shared.http.problems import PROBLEM

# Operational endpoints answer for themselves (/readyz's 503 is a readiness document, not a problem).
_OPERATIONS = frozenset({"/healthz", "/readyz", "/metrics"})
_WRITES = frozenset({"post", "patch", "put", "delete"})
_DESCRIPTIONS = {
    400: "Malformed JSON, an invalid `Idempotency-Key`, or characters text cannot hold (such as \\u0000)",
    401: "No bearer token, or one this service does not know",
    403: "The token lacks the role this operation needs",
    404: "No such entity",
    408: "The request body stopped arriving before it was complete (`CONFERENCE_BODY_READ_TIMEOUT_SECONDS`)",
    409: "Conflicts with the current state, or an `Idempotency-Key` reused with a different body",
    413: "The request body is larger than the service accepts (`CONFERENCE_MAX_BODY_BYTES`, default 1 MiB)",
    422: "Invalid input: `errors` lists each field, its message and type",
    503: "The service's database is unreachable: retry after `Retry-After` seconds",
}


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the field, e.g. `parties.0.country`.")
    message: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details: what every error of every service looks like."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(description="A URI naming the kind of problem.")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str = Field(description="What happened and what to do about it, for a person.")
    code: str = Field(description="A stable machine-readable code, e.g. `database_unavailable`.")
    request_id: str | None = Field(default=None, description="The `X-Request-ID` of the request.")
    errors: list[FieldError] | None = Field(default=None, description="Field errors (422).")


BEARER = "bearer"
_BEARER_SCHEME = {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <token>`; "
                  "the token's roles are set by `CONFERENCE_ADMIN_TOKEN` and `CONFERENCE_TOKENS`."}


def document_problems(app: FastAPI) -> None:
    """Wrap ``app.openapi`` so that every operation documents its problem responses and its security."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        # Read when the document is first asked for: every router and mount is in by then.
        accesses = {(route.path, method.lower()): access for route, access in route_table(app.routes)
                    for method in route.methods or ()}
        schema = generate()
        components = schema.setdefault("components", {})
        definitions = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components.setdefault("schemas", {}).update({**definitions.pop("$defs", {}), "Problem": definitions})
        for path, item in schema.get("paths", {}).items():
            if path in _OPERATIONS:
                continue
            for method, operation in item.items():
                _document(operation, method, accesses.get((path, method), Access()))
        if any("security" in operation for item in schema.get("paths", {}).values() for operation in item.values()):
            components.setdefault("securitySchemes", {})[BEARER] = _BEARER_SCHEME
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document(operation: dict[str, Any], method: str, access: Access) -> None:
    _document_security(operation, access)
    parameters = operation.setdefault("parameters", [])
    if method == "post":
        parameters.append({
            "name": "Idempotency-Key", "in": "header", "required": False,
            "description": "A retry with the same key and body returns the first response (DESIGN.md §4).",
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH}})
    if not parameters:
        del operation["parameters"]
    statuses = {503}
    if parameters or "requestBody" in operation:
        statuses |= {400, 422}
    if "requestBody" in operation:
        statuses |= {408, 413}
    if any(p.get("in") == "path" for p in parameters):
        statuses.add(404)
    if method in _WRITES:
        statuses.add(409)
    if access.protected:
        statuses |= {401, 403}
    responses = operation.setdefault("responses", {})
    # Errors a route declared itself (e.g. a 404 for an unknown edition in a query) are problems too.
    statuses |= {int(code) for code in responses if code.isdigit() and int(code) >= 400}
    for status in sorted(statuses):
        documented = responses.get(str(status), {})
        response: dict[str, Any] = {
            "description": documented.get("description") or _description(status, access),
            "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        if status == 503:
            response["headers"] = {"Retry-After": {"description": "Seconds to wait before retrying.",
                                                   "schema": {"type": "string"}}}
        if status == 401:
            response["headers"] = {"WWW-Authenticate": {"description": "`Bearer`: the scheme to authenticate with.",
                                                        "schema": {"type": "string"}}}
        responses[str(status)] = response


def _document_security(operation: dict[str, Any], access: Access) -> None:
    if access.protected:
        operation["security"] = [{BEARER: []}]
        note = f"**Needs** a bearer token with the role {_roles(access)}."
    elif access.reads_token:
        operation["security"] = [{}, {BEARER: []}]  # {}: anonymous is allowed too
        note = ("A bearer token is optional: anonymous callers get the public view, a token's roles may show "
                "more (personal or contact data, entries without consent).")
    else:
        return
    description = operation.get("description", "")
    operation["description"] = f"{description}\n\n{note}" if description else note


def _roles(access: Access) -> str:
    """``registrar`` (or ``admin``); ``admin`` alone for a route only the administrator may call."""
    named = sorted(access.roles - {"admin"})
    if not named:
        return "`admin`"
    return " or ".join(f"`{role}`" for role in named) + " (or `admin`)"


def _description(status: int, access: Access) -> str:
    if status == 403:
        return f"The token lacks the role this operation needs: {_roles(access)}"
    return _DESCRIPTIONS[status]
