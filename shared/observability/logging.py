"""Structured JSON logs (structlog) and the request id that ties a log line, an HTTP request and its
events together.

Every line is one JSON object on stderr with ``timestamp``, ``level``, ``logger``, ``service`` and
``event`` (the message), plus ``request_id`` while a request is served. The request id travels in
the events a request causes as the CloudEvents ``correlationid``; a consumer binds it while it
handles that event, so ``grep <request id>`` follows one registration from HTTP to the dashboard.
Standard-library loggers (uvicorn, SQLAlchemy, aiokafka, ``logging.getLogger``) go through the same
renderer.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
service_var: ContextVar[str | None] = ContextVar("service", default=None)
_process_service: str | None = None


def _add_context(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    service = service_var.get() or _process_service
    if service and "service" not in event_dict:
        event_dict["service"] = service
    request_id = request_id_var.get()
    if request_id and "request_id" not in event_dict:
        event_dict["request_id"] = request_id
    return event_dict


_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    _add_context,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]

structlog.configure(
    processors=[structlog.stdlib.filter_by_level, *_SHARED_PROCESSORS,
                structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
    cache_logger_on_first_use=True,
)


def get_logger(name: str) -> Any:
    """A structlog logger writing through the standard library (so one handler renders everything)."""
    return structlog.stdlib.get_logger(name)


def json_formatter() -> logging.Formatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED_PROCESSORS,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=False, default=str),
        ],
    )


def configure_logging(service: str | None = None, *, default_level: str = "INFO") -> None:
    """JSON lines on stderr for the whole process; ``CONFERENCE_LOG_LEVEL`` (default ``default_level``)."""
    global _process_service
    _process_service = service
    level = os.environ.get("CONFERENCE_LOG_LEVEL", default_level).upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the demo's client requests are not news
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):  # uvicorn's own handlers would print plain text
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
