"""``Idempotency-Key`` on POST (DESIGN.md §4): a retry with the same key and body gets the first
response; the same key with a different body is a 409.

The key is claimed in its own short transaction before the request runs (so two concurrent retries
cannot both execute), the 2xx response is stored afterwards. A non-2xx answer releases the key:
errors change nothing, so running the request again is safe, and a client retrying a 422 caused by a
replica that was behind gets a fresh answer. A claim left by a crash is released after
``ABANDONED_AFTER`` seconds.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.db.statements import insert_ignoring_duplicates
from shared.http.headers import header_value

HEADER = b"idempotency-key"
MAX_KEY_LENGTH = 200
ABANDONED_AFTER = timedelta(seconds=60)


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, engine: AsyncEngine, table: Any) -> None:
        self.app = app
        self.engine = engine
        self.table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _idempotency_key(scope)
        if scope["type"] != "http" or scope.get("method") != "POST" or key is None:
            await self.app(scope, receive, send)
            return
        if not key or len(key) > MAX_KEY_LENGTH:
            await _send_problem(send, 400, "invalid_idempotency_key",
                                f"Idempotency-Key must be 1–{MAX_KEY_LENGTH} characters")
            return
        body = await _read_body(receive)
        # Scoped by caller and path: one client's key never replays another's response.
        caller = hashlib.sha256((header_value(scope, b"authorization") or "").strip().encode()).hexdigest()[:16]
        scoped_key = f"{caller}|{scope['path']}|{key}"
        request_hash = hashlib.sha256(scope["path"].encode() + b"\0" + body).hexdigest()
        try:
            stored = await self._claim(scoped_key, request_hash)
        except (SQLAlchemyError, OSError):
            await _send_problem(send, 503, "database_unavailable",
                                "the service's database is unreachable; retry shortly")
            return
        if stored is not None:
            await self._answer_from(stored, request_hash, send)
            return

        captured: dict[str, Any] = {"status": 500, "headers": [], "body": b""}

        async def replay_receive() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, replay_receive, capture)
        finally:
            try:
                await self._settle(scoped_key, captured)
            except (SQLAlchemyError, OSError):
                pass  # the claim expires after ABANDONED_AFTER; a retry then runs again

    async def _claim(self, key: str, request_hash: str) -> Any:
        """None when this request now owns the key; otherwise the stored row."""
        t = self.table
        async with self.engine.begin() as conn:
            inserted = await conn.execute(insert_ignoring_duplicates(conn, t).values(
                key=key, request_hash=request_hash, created_at=datetime.now(UTC)))
            if inserted.rowcount == 1:
                return None
            row = (await conn.execute(select(t).where(t.c.key == key))).first()
            if row is not None and row.status_code is None and \
                    _as_utc(row.created_at) < datetime.now(UTC) - ABANDONED_AFTER:
                await conn.execute(update(t).where(t.c.key == key).values(
                    request_hash=request_hash, created_at=datetime.now(UTC)))
                return None
            return row

    async def _answer_from(self, row: Any, request_hash: str, send: Send) -> None:
        if row.request_hash != request_hash:
            await _send_problem(send, 409, "idempotency_key_reused",
                                "this Idempotency-Key was used with a different request body; use a new key")
        elif row.status_code is None:
            await _send_problem(send, 409, "idempotency_in_progress",
                                "a request with this Idempotency-Key is still being processed; retry shortly")
        else:
            stored = json.loads(row.response_body)
            await send({"type": "http.response.start", "status": row.status_code,
                        "headers": [(b"content-type", stored["content_type"].encode()),
                                    (b"idempotent-replayed", b"true")]})
            await send({"type": "http.response.body", "body": stored["body"].encode()})

    async def _settle(self, key: str, captured: dict[str, Any]) -> None:
        t = self.table
        async with self.engine.begin() as conn:
            if 200 <= captured["status"] < 300:
                content_type = next((v.decode() for k, v in captured["headers"] if k == b"content-type"),
                                    "application/json")
                await conn.execute(update(t).where(t.c.key == key).values(
                    status_code=captured["status"],
                    response_body=json.dumps({"content_type": content_type,
                                              "body": captured["body"].decode("utf-8", "replace")})))
            else:
                await conn.execute(delete(t).where(t.c.key == key))


def _idempotency_key(scope: Scope) -> str | None:
    if not any(name == HEADER for name, _ in scope.get("headers", ())):
        return None
    return (header_value(scope, HEADER) or "").strip()


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def _send_problem(send: Send, status: int, code: str, detail: str) -> None:
    body = json.dumps({"type": f"https://conference.example/problems/{code}", "title": detail, "status": status,
                       "detail": detail, "code": code}).encode()
    headers = [(b"content-type", b"application/problem+json")]
    if status == 503:
        headers.append((b"retry-after", b"2"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
