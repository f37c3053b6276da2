"""RFC 9457 problem+json: every error a client sees, mapped from exceptions in one place."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from shared.db.engine import database_unreachable
from shared.errors import DomainError
from shared.observability.logging import request_id_var

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


def problem_document(status: int, title: str, detail: str, code: str, **extra: Any) -> dict[str, Any]:
    """The RFC 9457 body every error of the platform has, with the request id when there is one."""
    body = {"type": f"https://conference.example/problems/{code}", "title": title, "status": status,
            "detail": detail, "code": code, **extra}
    rid = request_id_var.get()
    if rid:
        body["request_id"] = rid
    return body


def problem_headers(status: int) -> dict[str, str]:
    """What a client needs beside the body: when to retry a 503, how to authenticate after a 401."""
    if status == 503:
        return {"Retry-After": "2"}
    if status == 401:
        return {"WWW-Authenticate": "Bearer"}
    return {}


def problem(status: int, title: str, detail: str, code: str, **extra: Any) -> JSONResponse:
    return JSONResponse(problem_document(status, title, detail, code, **extra), status_code=status,
                        media_type=PROBLEM, headers=problem_headers(status) or None)


async def send_problem(send: Send, status: int, title: str, detail: str, code: str, *, close: bool = False) -> None:
    """The same problem sent by a pure-ASGI middleware (before any route runs); ``close`` ends the
    connection, for a request whose body is left unread."""
    content = json.dumps(problem_document(status, title, detail, code)).encode()
    headers = [(b"content-type", PROBLEM.encode()), (b"content-length", str(len(content)).encode())]
    headers += [(name.lower().encode(), value.encode()) for name, value in problem_headers(status).items()]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        extra = dict(exc.extra)
        if exc.status == 422 and "errors" not in extra:
            # DESIGN.md §5: every 422 carries its list of field errors, domain rules included.
            extra["errors"] = [{"field": str(extra.get("field", "body")), "message": exc.detail, "type": exc.code}]
        answer = problem(exc.status, exc.title, exc.detail, exc.code, **extra)
        answer.headers.update(exc.headers)
        return answer

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem(400, "Malformed JSON", "the request body is not valid JSON", "malformed_json")
        fields = [{"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body",
                   "message": str(e.get("msg")), "type": str(e.get("type"))} for e in errors]
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        return problem(422, "Invalid input", summary, "validation_failed", errors=fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = getattr(exc, "code", None) or {404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error")
        title = getattr(exc, "title", None) or str(exc.detail)
        return problem(exc.status_code, str(title), str(exc.detail), str(code))

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(OSError)
    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %r", exc)
        return problem(503, "Service unavailable", "the service's database is unreachable; retry shortly",
                       "database_unavailable")

    @app.exception_handler(DBAPIError)
    async def dbapi_error(_: Request, exc: DBAPIError) -> JSONResponse:
        if database_unreachable(exc):  # e.g. "the database system is shutting down" during a restart
            return problem(503, "Service unavailable", "the service's database is unreachable; retry shortly",
                           "database_unavailable")
        if getattr(exc.orig, "sqlstate", None) == "22021":  # character_not_in_repertoire: a NUL in text
            return problem(400, "Invalid characters", "the request holds a character that text cannot contain "
                           "(such as \\u0000); remove it and retry", "invalid_characters")
        log.exception("database error", exc_info=exc)
        return problem(500, "Internal error", "an unexpected database error occurred", "internal_error")

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem(500, "Internal error", "an unexpected error occurred; it has been logged",
                       "internal_error")
