"""``Idempotency-Key`` on POST (DESIGN.md §4): a retry with the same key and body gets the first
response; the same key with a different body is a 409.

The key's outcome is stored **in the write's transaction**. For a POST with a key the middleware opens
a transaction on the service's write engine and inserts the key's row first, then runs the request
with that transaction as the current :class:`~shared.messaging.outbox.HeldTransaction`: the unit of
work of the use case runs in it and its ``commit()`` only writes the outbox rows. The response is held
back; once the app has produced all of it, a 2xx answer (status, headers, body) is written to the
key's row and state, events and answer are committed together, and only then is the answer sent.

- A crash before that commit leaves nothing: a retry runs the write once.
- A crash after it leaves the stored answer: a retry replays it (``Idempotent-Replayed: true``).
- A concurrent duplicate blocks on the key's primary key until the first one ends (PostgreSQL waits
  for the inserting transaction; SQLite has one writer at a time), then replays its answer — or, if
  the first one failed and stored nothing, runs itself. Never a second write.
- A non-2xx answer (or a unit of work that ended without committing) rolls everything back and
  stores nothing: errors change nothing, so running the request again is safe.

Records expire after ``CONFERENCE_IDEMPOTENCY_TTL_HOURS`` (24 h): an expired record is ignored (the
key is taken afresh) and :func:`purge_expired` deletes them in bounded batches. A record holds the
hash of the scoped key (never the token or the client's key), the hash of the request, and the answer
the caller received.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.db.statements import insert_ignoring_duplicates
from shared.http.headers import header_value
from shared.http.problems import send_problem
from shared.messaging.outbox import HeldTransaction, held_transaction

log = logging.getLogger(__name__)

HEADER = b"idempotency-key"
MAX_KEY_LENGTH = 200
DEFAULT_TTL = timedelta(hours=24)
PURGE_BATCH = 500
PURGE_MAX_BATCHES = 20  # per round: a backlog of expired rows is worked off over several rounds
PURGE_INTERVAL_SECONDS = 600.0
# Tests only (tests/e2e/faults): hold the answer between the idempotent commit and sending it, so a
# test can kill the process exactly in that window. Unset or 0 (the default): no pause.
PAUSE_AFTER_COMMIT_ENV = "CONFERENCE_TEST_IDEMPOTENCY_PAUSE_AFTER_COMMIT_SECONDS"
PAUSED_AFTER_COMMIT = "idempotent write committed, answer not yet sent"


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, engine: AsyncEngine, table: Any, ttl: timedelta = DEFAULT_TTL) -> None:
        self.app = app
        self.engine = engine
        self.table = table
        self.ttl = ttl
        self._pause_after_commit = float(os.environ.get(PAUSE_AFTER_COMMIT_ENV) or 0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        key = _idempotency_key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        if not key or len(key) > MAX_KEY_LENGTH:
            detail = f"Idempotency-Key must be 1–{MAX_KEY_LENGTH} characters"
            await send_problem(send, 400, detail, detail, "invalid_idempotency_key")
            return
        body = await _read_body(receive)
        path = scope["path"].encode("utf-8", "surrogateescape")
        # Scoped by caller and path: one client's key never replays another's response.
        scoped_key = scoped_key_hash(header_value(scope, b"authorization"), path, key)
        request_hash = hashlib.sha256(path + b"\0" + body).hexdigest()
        try:
            conn = await self.engine.connect()
        except (SQLAlchemyError, OSError):
            await _database_unavailable(send)
            return
        try:
            await self._handle(conn, scope, receive, send, body, scoped_key, request_hash)
        finally:
            with contextlib.suppress(SQLAlchemyError, OSError):
                await conn.close()

    async def _handle(self, conn: AsyncConnection, scope: Scope, receive: Receive, send: Send, body: bytes,
                      scoped_key: str, request_hash: str) -> None:
        try:
            await conn.begin()
            stored = await self._claim(conn, scoped_key, request_hash)
        except (SQLAlchemyError, OSError):
            await _database_unavailable(send)
            return
        if stored is not None:
            with contextlib.suppress(SQLAlchemyError, OSError):
                await conn.rollback()
            await _answer_from(stored, request_hash, send)
            return

        held = HeldTransaction(conn)
        start: Message = {"type": "http.response.start", "status": 500, "headers": []}
        chunks: list[bytes] = []
        first_receive = True

        async def replay_receive() -> Message:
            nonlocal first_receive
            if first_receive:
                first_receive = False
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the client's disconnect, when it comes

        async def hold(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        token = held_transaction.set(held)
        try:
            await self.app(scope, replay_receive, hold)
        except BaseException:
            with contextlib.suppress(SQLAlchemyError, OSError):
                await conn.rollback()
            raise
        finally:
            held.closed = True
            held_transaction.reset(token)

        status: int = start["status"]
        answer = b"".join(chunks)
        if 200 <= status < 300 and not held.aborted:
            try:
                await self._store(conn, scoped_key, status, start.get("headers", []), answer)
                await conn.commit()
            except (SQLAlchemyError, OSError):
                # Committed or not, a retry is safe: it replays the stored answer or runs once.
                with contextlib.suppress(SQLAlchemyError, OSError):
                    await conn.rollback()
                await _database_unavailable(send)
                return
            for wake in held.wake:
                wake()
            if self._pause_after_commit > 0:
                log.warning(PAUSED_AFTER_COMMIT)
                await asyncio.sleep(self._pause_after_commit)
        else:
            with contextlib.suppress(SQLAlchemyError, OSError):
                await conn.rollback()
        await send(start)
        await send({"type": "http.response.body", "body": answer})

    async def _claim(self, conn: AsyncConnection, key: str, request_hash: str) -> Any:
        """None when this request now owns the key (its row is inserted, uncommitted); otherwise the
        stored row. Blocks while a concurrent request with the same key is running."""
        t = self.table
        now = datetime.now(UTC)
        claim = insert_ignoring_duplicates(conn, t).values(
            key=key, request_hash=request_hash, created_at=now, expires_at=now + self.ttl)
        if (await conn.execute(claim)).rowcount == 1:
            return None
        row = (await conn.execute(select(t).where(t.c.key == key))).first()
        if row is not None and not _expired(row, now):
            return row
        # Expired (or purged meanwhile): forgotten, the key is taken afresh.
        await conn.execute(delete(t).where(t.c.key == key))
        if (await conn.execute(claim)).rowcount == 1:
            return None
        return (await conn.execute(select(t).where(t.c.key == key))).first()

    async def _store(self, conn: AsyncConnection, key: str, status: int, headers: list[tuple[bytes, bytes]],
                     answer: bytes) -> None:
        t = self.table
        await conn.execute(update(t).where(t.c.key == key).values(
            status_code=status,
            response_headers=json.dumps([[k.decode("latin-1"), v.decode("latin-1")] for k, v in headers]),
            response_body=answer.decode("utf-8", "replace")))


def scoped_key_hash(authorization: str | None, path: bytes, key: str) -> str:
    """What the key's row is stored under: sha256 of the caller (a hash of its credentials), the path
    and the client's key. The scheme is case-insensitive and spaces around it do not matter, so
    ``bearer X`` and ``Bearer  X`` are one caller."""
    return hashlib.sha256(caller_hash(authorization).encode() + b"\0" + path + b"\0"
                          + key.encode("utf-8", "surrogateescape")).hexdigest()


def caller_hash(authorization: str | None) -> str:
    parts = (authorization or "").split(None, 1)
    scheme = parts[0].lower() if parts else ""
    credentials = parts[1].strip() if len(parts) > 1 else ""
    return hashlib.sha256(f"{scheme} {credentials}".encode("utf-8", "surrogateescape")).hexdigest()


async def purge_expired(engine: AsyncEngine, table: Any, *, batch: int = PURGE_BATCH,
                        max_batches: int = PURGE_MAX_BATCHES) -> int:
    """Delete expired idempotency records, ``batch`` rows per transaction, at most ``max_batches``
    transactions; the number deleted."""
    t = table
    deleted = 0
    for _ in range(max_batches):
        now = datetime.now(UTC)
        doomed = select(t.c.key).where(or_(t.c.expires_at.is_(None), t.c.expires_at <= now)).limit(batch)
        async with engine.begin() as conn:
            count = (await conn.execute(delete(t).where(t.c.key.in_(doomed.scalar_subquery())))).rowcount
        deleted += count
        if count < batch:
            break
    return deleted


async def purge_periodically(engine: AsyncEngine, table: Any, interval: float = PURGE_INTERVAL_SECONDS) -> None:
    while True:
        try:
            deleted = await purge_expired(engine, table)
            if deleted:
                log.info("purged %d expired idempotency records", deleted)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is down: /readyz says so; try again next round
            log.debug("idempotency purge failed: %r", exc)
        await asyncio.sleep(interval)


def _expired(row: Any, now: datetime) -> bool:
    return row.expires_at is None or _as_utc(row.expires_at) <= now


async def _answer_from(row: Any, request_hash: str, send: Send) -> None:
    if row.request_hash != request_hash:
        detail = "this Idempotency-Key was used with a different request body; use a new key"
        await send_problem(send, 409, detail, detail, "idempotency_key_reused")
    elif row.status_code is None:
        detail = "a request with this Idempotency-Key is still being processed; retry shortly"
        await send_problem(send, 409, detail, detail, "idempotency_in_progress")
    else:
        stored = json.loads(row.response_headers) if row.response_headers else [["content-type", "application/json"]]
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in stored]
        await send({"type": "http.response.start", "status": row.status_code,
                    "headers": [*headers, (b"idempotent-replayed", b"true")]})
        await send({"type": "http.response.body", "body": (row.response_body or "").encode()})


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


async def _database_unavailable(send: Send) -> None:
    detail = "the service's database is unreachable; retry shortly"
    await send_problem(send, 503, detail, detail, "database_unavailable")
