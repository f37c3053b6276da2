"""Transactional outbox: the unit of work writes events beside the state; the relay publishes them.

The relay is woken at commit (PostgreSQL LISTEN/NOTIFY, an in-process signal for SQLite) and also
polls slowly in case a wake-up was missed. One relay per service database runs at a time (PostgreSQL
advisory lock, a file lock for SQLite), so events leave in outbox order.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Protocol, Self

import asyncpg
from pydantic import BaseModel
from sqlalchemy import Table, bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.dml import Insert

from shared.db.driver import DriverStatement
from shared.db.notifications import asyncpg_dsn
from shared.db.tables import PlatformTables
from shared.events import CATALOGUE, CloudEvent, new_event
from shared.events.envelope import record_headers
from shared.files import private_file
from shared.messaging.bus import Bus, OutgoingMessage
from shared.messaging.supervise import Backoff, supervise
from shared.observability.logging import request_id_var
from shared.observability.metrics import PlatformMetrics

log = logging.getLogger(__name__)

RELAY_BATCH = 500
BACKLOG_REFRESH_SECONDS = 2.0
# Tests only (tests/e2e/faults): hold the relay between publishing a batch and deleting its rows, so
# a test can kill the process exactly in that window. Unset or 0 (the default): no pause.
PAUSE_AFTER_PUBLISH_ENV = "CONFERENCE_TEST_RELAY_PAUSE_AFTER_PUBLISH_SECONDS"


OUTBOX_COLUMNS = ("event_id", "topic", "key", "type", "payload", "created_at")  # the keys of Outbox.rows()


def notify_channel(service: str) -> str:
    return f"outbox_{service}"


class HeldTransaction:
    """A transaction opened for one request by the idempotency middleware (``shared.http.idempotency``).

    While it is the current one (:data:`held_transaction`), a :class:`UnitOfWork` runs *in* it and its
    ``commit()`` only writes the outbox rows: the middleware stores the key's outcome on the same
    connection and commits state, events and answer together. A unit of work that ends without
    committing marks the transaction ``aborted``: the middleware then rolls all of it back."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.in_use = False
        self.aborted = False
        # Set when the request is over: a task it spawned that outlives it runs its own transactions.
        self.closed = False
        self.wake: list[Callable[[], None]] = []  # the outboxes to wake once committed


held_transaction: ContextVar[HeldTransaction | None] = ContextVar("held_transaction", default=None)


class UnitOfWorkPort(Protocol):
    """What a use case needs of its transaction: a scope, events to emit, a commit. A service's own
    unit of work adds its repositories; unit tests pass a fake with in-memory ones."""

    events: list[CloudEvent]

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None: ...

    def emit(self, payload: BaseModel, *, subject: str) -> CloudEvent: ...

    async def commit(self) -> None: ...


class UnitOfWork:
    """One use case = one transaction; events emitted here are committed with the state (the SQL
    implementation of :class:`UnitOfWorkPort`; a service subclasses it to add its repositories)."""

    def __init__(self, engine: AsyncEngine, outbox: Outbox) -> None:
        self._engine = engine
        self._outbox = outbox
        self.events: list[CloudEvent] = []
        self._written = 0  # events[:_written] are in the outbox already (insert_with_events)
        self._conn: AsyncConnection | None = None
        self._held: HeldTransaction | None = None
        self._committed = False
        self._autocommitted = False

    @property
    def conn(self) -> AsyncConnection:
        assert self._conn is not None, "use the unit of work inside `async with`"
        return self._conn

    async def __aenter__(self) -> Self:
        held = held_transaction.get()
        if held is not None and not held.closed:
            if held.in_use:
                raise RuntimeError("two units of work at once in one idempotent request")
            held.in_use = True
            self._held, self._committed, self._conn = held, False, held.conn
            return self
        # The transaction begins with the first statement (SQLAlchemy's autobegin), so that a unit of work whose
        # only write is its last may still run it without one (insert_with_events(last_write=True)).
        self._conn = await self._engine.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._conn is not None
        if self._held is not None:  # the middleware commits or rolls back, and closes the connection
            held, self._held, self._conn = self._held, None, None
            held.in_use = False
            if not self._committed:
                held.aborted = True
            return
        try:
            if self._conn.in_transaction():
                await self._conn.rollback()
        finally:
            await self._conn.close()
            self._conn = None

    def emit(self, payload: BaseModel, *, subject: str) -> CloudEvent:
        event = new_event(payload, subject=subject, correlation_id=request_id_var.get())
        self.events.append(event)
        return event

    async def insert_with_events(self, table: Table, row: dict[str, Any], *, last_write: bool = False) -> None:
        """Insert ``row`` into ``table`` together with the outbox rows of the events emitted so far: one
        round trip on PostgreSQL, where the state's INSERT is a data-modifying CTE of the outbox's. Both
        are in this transaction either way, so a constraint of ``table`` is raised here as it would be by
        the INSERT alone.

        ``last_write``: the caller writes nothing more before :meth:`commit`. When that one statement is
        also the first (and no idempotent request holds the transaction), it commits by itself — a single
        statement is atomic — which saves the BEGIN and COMMIT round trips of the busiest write."""
        conn, events = self.conn, self.events[self._written:]
        if (last_write and self._held is None and not conn.in_transaction()
                and self._outbox.is_one_statement(conn, events)):
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            self._autocommitted = True
            await self._outbox.insert_alone(conn, table, row, events)
        else:
            await self._outbox.insert_with(conn, table, row, events)
        self._written = len(self.events)

    async def commit(self) -> None:
        conn = self.conn
        if self._autocommitted:  # insert_with_events(last_write=True) committed everything already
            if self.events[self._written:]:
                raise RuntimeError("events emitted after the unit of work's last write")
            await conn.commit()  # ends SQLAlchemy's transaction; nothing is sent in AUTOCOMMIT
            self._outbox.wake()
            return
        if self.events[self._written:]:
            await self._outbox.write(conn, self.events[self._written:])
        if self._held is not None:  # committed by the idempotency middleware, with the key's outcome
            self._committed = True
            if self.events:
                self._held.wake.append(self._outbox.wake)
            return
        await conn.commit()
        if self.events:
            self._outbox.wake()


class Outbox:
    """The outbox table of one service and the wake-up signal of its relay."""

    def __init__(self, service: str, tables: PlatformTables, topic_prefix: str = "") -> None:
        self.service = service
        self.table = tables.outbox
        self.topic_prefix = topic_prefix
        self._wake = asyncio.Event()
        self._combined: dict[tuple[str, tuple[str, ...]], Insert] = {}
        self._alone: dict[tuple[str, tuple[str, ...]], DriverStatement] = {}

    def wake(self) -> None:
        self._wake.set()

    def rows(self, events: list[CloudEvent]) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        # new_event() only wraps catalogue payloads, so every type here has a definition.
        return [{"event_id": event.id, "topic": self.topic_prefix + CATALOGUE[event.type].topic,
                 "key": event.subject, "type": event.type, "payload": event.to_bytes(), "created_at": now}
                for event in events]

    async def write(self, conn: AsyncConnection, events: list[CloudEvent]) -> None:
        # On PostgreSQL a trigger on the outbox (migration 0003) NOTIFYs the relay's LISTEN connection at
        # commit, in whichever process the relay runs; on SQLite commit() sets the in-process signal.
        await conn.execute(self.table.insert(), self.rows(events))

    async def insert_with(self, conn: AsyncConnection, table: Table, row: dict[str, Any],
                          events: list[CloudEvent]) -> None:
        """``row`` into ``table``, and the outbox row of one event: one statement on PostgreSQL
        (``WITH state_write AS (INSERT INTO <table> …) INSERT INTO outbox …``); two elsewhere (SQLite has
        no data-modifying CTE), and for several events (a multi-row VALUES is compiled again on every
        call: SQLAlchemy does not cache it)."""
        if not self.is_one_statement(conn, events):
            await conn.execute(table.insert(), row)
            if events:
                await self.write(conn, events)
            return
        await conn.execute(self._combined_insert(table, tuple(row)), self._combined_parameters(row, events))

    async def insert_alone(self, conn: AsyncConnection, table: Table, row: dict[str, Any],
                           events: list[CloudEvent]) -> None:
        """:meth:`insert_with`'s one statement (PostgreSQL, one event), run by itself on a connection in
        AUTOCOMMIT, straight on its asyncpg connection (``shared.db.driver``: a tenth of a registration's
        CPU was SQLAlchemy's execution context)."""
        shape = (table.name, tuple(row))
        statement = self._alone.get(shape)
        if statement is None:
            statement = self._alone[shape] = DriverStatement(self._combined_insert(table, shape[1]), conn.dialect)
        await statement.execute_alone(conn, self._combined_parameters(row, events))

    def _combined_parameters(self, row: dict[str, Any], events: list[CloudEvent]) -> dict[str, Any]:
        parameters = {f"s_{name}": value for name, value in row.items()}
        parameters |= {f"o_{name}": value for name, value in self.rows(events)[0].items()}
        return parameters

    @staticmethod
    def is_one_statement(conn: AsyncConnection, events: list[CloudEvent]) -> bool:
        """Whether :meth:`insert_with` writes the row and ``events`` in one statement."""
        return len(events) == 1 and conn.dialect.name == "postgresql"

    def _combined_insert(self, table: Table, columns: tuple[str, ...]) -> Insert:
        # Built once per shape of row, with bound parameters: SQLAlchemy compiles it once and asyncpg
        # prepares it once.
        statement = self._combined.get((table.name, columns))
        if statement is None:
            state = table.insert().values({name: bindparam(f"s_{name}") for name in columns}).cte("state_write")
            # PostgreSQL runs a data-modifying CTE exactly once, whether or not the main statement reads it.
            statement = self._combined[table.name, columns] = self.table.insert().values(
                {name: bindparam(f"o_{name}") for name in OUTBOX_COLUMNS}).add_cte(state)
        return statement


class OutboxRow(NamedTuple):
    id: int
    topic: str
    key: str
    type: str
    payload: bytes


class _InFlight(NamedTuple):
    """A batch handed to the producer, not yet acknowledged."""

    rows: list[OutboxRow]
    delivered: Awaitable[object]
    started: float


def _ignore_outcome(delivered: Awaitable[object]) -> None:
    # Its failure (the broker gone) is what ended the leadership already; retrieve it so that asyncio does
    # not log it as never retrieved.
    asyncio.ensure_future(delivered).add_done_callback(lambda f: f.cancelled() or f.exception())


class OutboxRelay:
    def __init__(self, *, outbox: Outbox, engine: AsyncEngine, database_url: str, bus: Bus,
                 metrics: PlatformMetrics, lock_path: Path | None, poll_interval: float) -> None:
        self.outbox = outbox
        self.engine = engine
        self.database_url = database_url
        self.bus = bus
        self.metrics = metrics
        self.lock_path = lock_path
        self.poll_interval = poll_interval
        self._pause_after_publish = float(os.environ.get(PAUSE_AFTER_PUBLISH_ENV) or 0)
        self.is_leader = False
        self._stopping = False
        self._task: asyncio.Task[Any] | None = None
        self._oldest: datetime | None = None
        # PostgreSQL: the connection holding the relay lock, on which the relay also reads and deletes its
        # batches (one round trip each, prepared once, no BEGIN/COMMIT around them).
        self._lock_conn: asyncpg.Connection | None = None
        name = outbox.table.name
        self._select_sql = (f"SELECT id, topic, key, type, payload FROM {name} WHERE id <> ALL($2::bigint[]) "
                            "ORDER BY id LIMIT $1")
        self._delete_sql = f"DELETE FROM {name} WHERE id = ANY($1::bigint[])"
        # The age is computed at scrape time from the oldest row's timestamp, so it keeps growing
        # while the relay is stuck (a broker outage), between two backlog refreshes.
        metrics.outbox_oldest_age.set_function(self._oldest_age)
        from shared.events import CATALOGUE

        metrics.declare_publisher((outbox.topic_prefix + d.topic, d.type)
                                  for d in CATALOGUE.values() if d.service == outbox.service)

    def request_stop(self) -> None:
        """Graceful shutdown: the leader publishes what is committed, then stops; a standby just stops."""
        self._stopping = True
        self.outbox.wake()
        if not self.is_leader and self._task is not None:
            self._task.cancel()

    async def run(self) -> None:
        self._task = asyncio.current_task()
        await supervise(self._lead, name=f"outbox relay of {self.outbox.service}",
                        stopping=lambda: self._stopping, on_error=self._paused)

    async def _lead(self, backoff: Backoff) -> None:
        try:
            async with self._leadership() as still_leader:
                self._set_leader(True)
                await self._drain_forever(still_leader, backoff)
        finally:
            self._set_leader(False)

    def _paused(self, exc: Exception) -> None:
        self.metrics.relay_errors.inc()
        log.warning("outbox relay of %s paused: %s", self.outbox.service, exc)

    @contextlib.asynccontextmanager
    async def _leadership(self) -> AsyncIterator[Any]:
        if self.engine.dialect.name == "postgresql":
            async with self._postgres_leadership() as alive:
                yield alive
        else:
            async with self._file_leadership() as alive:
                yield alive

    @contextlib.asynccontextmanager
    async def _postgres_leadership(self) -> AsyncIterator[Any]:
        conn = await asyncpg.connect(asyncpg_dsn(self.database_url), timeout=5)
        try:
            lock_key = zlib.crc32(f"outbox-relay:{self.outbox.service}".encode())
            # Blocks in the server until the current leader's session ends: a standby takes over at once.
            await conn.execute("SELECT pg_advisory_lock($1)", lock_key)
            await conn.add_listener(notify_channel(self.outbox.service),
                                    lambda *_: self.outbox.wake())
            self._lock_conn = conn
            yield lambda: not conn.is_closed()
        finally:
            self._lock_conn = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2)
            if not conn.is_closed():
                conn.terminate()

    @contextlib.asynccontextmanager
    async def _file_leadership(self) -> AsyncIterator[Any]:
        assert self.lock_path is not None
        private_file(self.lock_path)
        with self.lock_path.open("w") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(min(self.poll_interval, 1.0))
            try:
                yield lambda: True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    async def _drain_forever(self, still_leader: Any, backoff: Backoff) -> None:
        producer = self.bus.producer()
        await producer.start()
        backoff.reset()  # the bus answers again: the next outage starts from a short pause
        in_flight: _InFlight | None = None
        try:
            while still_leader():
                self.outbox._wake.clear()
                # Pipelined: the next batch is read and handed to the producer while the previous one is on
                # its way to the broker, then the previous one is deleted. The producer keeps the order of
                # what it is handed, so two batches in flight are ordered as one larger batch would be.
                rows = await self._read_batch(exclude=[r.id for r in in_flight.rows] if in_flight else [])
                sending = _InFlight(rows, await producer.send(self._messages(rows)), time.perf_counter()) \
                    if rows else None
                if in_flight is not None:
                    await self._settle(in_flight)
                in_flight = sending
                if in_flight is not None:
                    continue
                await self._update_backlog()
                if self._stopping:  # everything committed so far is out
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.outbox._wake.wait(), self.poll_interval)
        finally:
            if in_flight is not None:  # not deleted: the next leader publishes these rows again
                _ignore_outcome(in_flight.delivered)
            with contextlib.suppress(Exception):
                await producer.stop()

    async def _read_batch(self, *, exclude: list[int]) -> list[OutboxRow]:
        """The oldest rows not in ``exclude`` (the batch in flight)."""
        if self._lock_conn is not None:
            return [OutboxRow(*r) for r in await self._lock_conn.fetch(self._select_sql, RELAY_BATCH, exclude)]
        table = self.outbox.table
        query = select(table.c.id, table.c.topic, table.c.key, table.c.type, table.c.payload)
        if exclude:
            query = query.where(table.c.id.not_in(exclude))
        async with self.engine.connect() as conn:
            return [OutboxRow(*r) for r in (await conn.execute(query.order_by(table.c.id).limit(RELAY_BATCH))).all()]

    @staticmethod
    def _messages(rows: list[OutboxRow]) -> list[OutgoingMessage]:
        return [OutgoingMessage(topic=r.topic, key=r.key, value=bytes(r.payload), headers=record_headers(r.type))
                for r in rows]

    async def _settle(self, batch: _InFlight) -> None:
        """Wait for the batch's acknowledgements, then delete its rows."""
        await batch.delivered
        self.metrics.relay_latency.observe(time.perf_counter() - batch.started)
        self.metrics.relay_batch.observe(len(batch.rows))
        if self._pause_after_publish > 0:
            log.warning("relay paused after publish: %d events published, not yet deleted", len(batch.rows))
            await asyncio.sleep(self._pause_after_publish)
        # A crash here republishes these rows: consumers deduplicate by event id.
        await self._delete_published([r.id for r in batch.rows])
        for r in batch.rows:
            self.metrics.events_published.labels(topic=r.topic, type=r.type).inc()

    async def _delete_published(self, ids: list[int]) -> None:
        # Exact ids, not a range: a row with a lower id may have been committed after the read.
        if self._lock_conn is not None:
            await self._lock_conn.execute(self._delete_sql, ids)
            return
        async with self.engine.begin() as conn:
            await conn.execute(delete(self.outbox.table).where(self.outbox.table.c.id.in_(ids)))

    def _set_leader(self, leader: bool) -> None:
        self.is_leader = leader
        self.metrics.relay_leader.set(1 if leader else 0)

    def _oldest_age(self) -> float:
        oldest = self._oldest
        return 0.0 if oldest is None else max((datetime.now(UTC) - oldest).total_seconds(), 0.0)

    async def _update_backlog(self) -> None:
        table = self.outbox.table
        async with self.engine.connect() as conn:
            count, oldest = (await conn.execute(
                select(func.count(), func.min(table.c.created_at)))).one()
        self.metrics.outbox_backlog.set(count)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        self._oldest = oldest

    async def watch_backlog(self, interval: float = BACKLOG_REFRESH_SECONDS) -> None:
        """Refresh the backlog gauges on every instance, leader or not, and during a broker outage."""
        while True:
            try:
                await self._update_backlog()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is down: /readyz says so; keep the last reading
                log.debug("outbox backlog of %s unknown: %r", self.outbox.service, exc)
            await asyncio.sleep(interval)


__all__ = ["HeldTransaction", "Outbox", "OutboxRelay", "UnitOfWork", "UnitOfWorkPort", "held_transaction", "new_event"]
