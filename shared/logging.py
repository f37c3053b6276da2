"""Logging setup and the request id that ties a log line, an HTTP request and its events together."""

from __future__ import annotations

import logging
import os
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True


def configure_logging(service: str | None = None) -> None:
    level = os.environ.get("CONFERENCE_LOG_LEVEL", "INFO").upper()
    handler = logging.StreamHandler()
    handler.addFilter(_RequestIdFilter())
    name = service or "%(name)s"
    handler.setFormatter(logging.Formatter(
        f"%(asctime)s %(levelname)s [{name}] %(message)s request_id=%(request_id)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
