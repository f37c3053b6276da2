"""SQLite on the event loop's own thread: the embedded mode's driver (``sqlite+inline://``).

A statement on a local SQLite file takes microseconds; handing it to a worker thread and back (what
aiosqlite does, three times a statement through SQLAlchemy's adapter) cost more than running it, and
``conference run``'s one loop made ~100 such hops per registration before the dashboard counted it
(docs/benchmarks.md). Here every statement runs where it is called, with two rules that keep one
process's coroutines from blocking each other on SQLite's file lock:

- **Writers take turns per file, asynchronously.** A statement that starts a write (``BEGIN IMMEDIATE``,
  or a write outside a transaction) first takes the file's *write turn*, an ``asyncio.Lock`` per event
  loop and file, and gives it back when its transaction ends (commit, rollback, close). A coroutine that
  holds a transaction open across an ``await`` (the relay publishing) makes the others *await* the turn,
  never block the loop inside SQLite's busy handler.
- **Another process's lock is waited for without blocking the loop.** Connections have
  ``busy_timeout=0``: a statement refused with SQLITE_BUSY (a writer in another process, ``conference
  serve`` per service on one log) had no effect, and is tried again after an ``asyncio.sleep`` that
  doubles from 1 to 50 ms, for up to ``BUSY_TIMEOUT_SECONDS`` as the busy handler did.

``InlineSQLiteDialect`` is SQLAlchemy's pysqlite dialect over these connections, declared async so that
``create_async_engine`` accepts it (its greenlet runs the synchronous calls; ``await_`` suspends only
for a turn or a busy wait); ``InlineSQLite`` serves code outside SQLAlchemy (the embedded log), running a
synchronous function over one connection as a single step of the loop.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.util import await_, greenlet_spawn
from sqlalchemy.util.concurrency import in_greenlet

T = TypeVar("T")

DRIVER = "inline"
BUSY_TIMEOUT_SECONDS = 30.0
_FIRST_BUSY_DELAY = 0.001
_LAST_BUSY_DELAY = 0.05

# Statements that never start a write when run outside a transaction (what they do inside one is
# covered by the transaction's turn). Anything else outside a transaction takes the turn: taking it
# for a read costs only order, missing it for a write would be caught by the busy retry anyway.
_READING_PREFIXES = ("SELECT", "PRAGMA", "EXPLAIN", "COMMIT", "END", "ROLLBACK", "RELEASE", "VALUES")


def _starts_write(sql: str, in_transaction: bool) -> bool:
    head = sql.lstrip()[:24].upper()
    if head.startswith("BEGIN"):
        return "IMMEDIATE" in head or "EXCLUSIVE" in head
    return not in_transaction and not head.startswith(_READING_PREFIXES)


def _is_busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "database is locked" in str(error)


_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = weakref.WeakKeyDictionary()


def _write_turn(path: str) -> tuple[asyncio.AbstractEventLoop, asyncio.Lock]:
    loop = asyncio.get_running_loop()
    return loop, _turns.setdefault(loop, {}).setdefault(path, asyncio.Lock())


async def _take(turn: asyncio.Lock) -> None:
    if not turn.locked():
        await turn.acquire()  # free: returns without suspending
        return
    try:
        async with asyncio.timeout(BUSY_TIMEOUT_SECONDS):
            await turn.acquire()
    except TimeoutError:
        raise sqlite3.OperationalError("database is locked (no write turn within "
                                       f"{BUSY_TIMEOUT_SECONDS:.0f} s)") from None


class InlineConnection:
    """A ``sqlite3.Connection`` whose statements run on the calling thread, writers taking turns per
    file (the module's text). It is the DBAPI connection SQLAlchemy sees; attributes it does not
    define are the ``sqlite3.Connection``'s."""

    def __init__(self, connection: sqlite3.Connection, path: str | None) -> None:
        self._connection = connection
        self._path = path  # None for an in-memory database: private to its connection, no turns
        self._turn: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._thread = threading.get_ident()

    # -- the DBAPI connection ------------------------------------------------------------------
    def cursor(self) -> InlineCursor:
        return InlineCursor(self, self._connection.cursor())

    def commit(self) -> None:
        self.run("COMMIT", self._connection.commit)

    def rollback(self) -> None:
        self.run("ROLLBACK", self._connection.rollback)

    def close(self) -> None:
        try:
            self._connection.close()
        finally:
            self._give_back_turn()

    def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any] | dict[str, Any]]) -> InlineCursor:
        return self.cursor().executemany(sql, rows)

    def executescript(self, script: str) -> InlineCursor:
        return self.cursor().executescript(script)

    @property
    def isolation_level(self) -> str | None:
        return self._connection.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._connection.isolation_level = value  # type: ignore[assignment]  # SQLAlchemy passes "" too

    @property
    def in_transaction(self) -> bool:
        return self._connection.in_transaction

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    # -- turns and busy waits --------------------------------------------------------------------
    def run(self, sql: str, call: Callable[[], T]) -> T:
        """``call()``, which runs ``sql``, by way of ``run_async`` when a greenlet can await (SQLAlchemy's
        asyncio layer also insists that each statement awaits once); directly otherwise (a connection
        closed or rolled back by the garbage collector)."""
        if in_greenlet():
            result: T = await_(self.run_async(sql, call))
            return result
        return call()

    async def run_async(self, sql: str, call: Callable[[], T]) -> T:
        """``call()`` after taking the write turn when ``sql`` starts a write, tried again while another
        process holds the file's lock; the turn is given back as soon as no transaction is open."""
        try:
            if self._turn is None and self._path is not None and _starts_write(sql, self._connection.in_transaction):
                loop, turn = _write_turn(self._path)
                await _take(turn)
                self._turn = (loop, turn)
            deadline: float | None = None  # set at the first SQLITE_BUSY: no clock read per statement
            delay = _FIRST_BUSY_DELAY
            while True:
                try:
                    return call()
                except sqlite3.OperationalError as error:
                    if not _is_busy(error):
                        raise
                    now = time.monotonic()
                    deadline = now + BUSY_TIMEOUT_SECONDS if deadline is None else deadline
                    if now > deadline:
                        raise
                await asyncio.sleep(delay)  # nothing ran: try again once the other process is done
                delay = min(delay * 2, _LAST_BUSY_DELAY)
        finally:
            if self._turn is not None and not self._connection.in_transaction:
                self._give_back_turn()

    def _give_back_turn(self) -> None:
        if self._turn is None:
            return
        (loop, turn), self._turn = self._turn, None
        if threading.get_ident() == self._thread:
            turn.release()
        elif not loop.is_closed():  # closed by the garbage collector on another thread
            loop.call_soon_threadsafe(turn.release)


class InlineCursor:
    """The cursor of an ``InlineConnection``: its executes go through the connection's turns, and a
    query's rows are read at once (as SQLAlchemy's async drivers do), so that a result outliving its
    connection's checkout leaves no statement open on the connection."""

    def __init__(self, connection: InlineConnection, cursor: sqlite3.Cursor) -> None:
        self._owner = connection
        self._cursor = cursor
        self._rows: deque[Any] = deque()

    def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        self._rows = self._owner.run(sql, partial(self._read, self._cursor.execute, sql, parameters))
        return self

    def executemany(self, sql: str, rows: Iterable[Sequence[Any] | dict[str, Any]]) -> InlineCursor:
        rows = list(rows)  # a retry after SQLITE_BUSY must see the rows again
        self._rows = self._owner.run(sql, partial(self._read, self._cursor.executemany, sql, rows))
        return self

    def executescript(self, script: str) -> InlineCursor:
        self._owner.run(script, partial(self._cursor.executescript, script))
        self._rows = deque()
        return self

    def _read(self, execute: Callable[[str, Any], object], sql: str, parameters: Any) -> deque[Any]:
        execute(sql, parameters)
        return deque(self._cursor.fetchall()) if self._cursor.description else deque()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        count = len(self._rows) if size is None else min(size, len(self._rows))
        return [self._rows.popleft() for _ in range(count)]

    def fetchall(self) -> list[Any]:
        rows, self._rows = list(self._rows), deque()
        return rows

    def close(self) -> None:
        self._rows.clear()
        self._cursor.close()

    async def _async_soft_close(self) -> None:
        """What SQLAlchemy's asyncio results call once a statement ran: the rows are already read."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def connect(database: str, **kwargs: Any) -> InlineConnection:
    """``sqlite3.connect`` for the loop's thread: SQLite's busy handler off (waits are the module's),
    usable from another thread only for closing (the pool's garbage collection)."""
    kwargs["check_same_thread"] = False
    kwargs["timeout"] = 0
    connection = sqlite3.connect(database, **kwargs)
    in_memory = database == ":memory:" or "mode=memory" in database
    return InlineConnection(connection, None if in_memory else os.path.realpath(database))


class _InlineDBAPI:
    """The ``sqlite3`` module as a DBAPI whose ``connect`` gives ``InlineConnection``s."""

    connect = staticmethod(connect)

    def __getattr__(self, name: str) -> Any:
        return getattr(sqlite3, name)


class InlineSQLiteDialect(SQLiteDialect_pysqlite):
    """pysqlite over ``InlineConnection``s, async for ``create_async_engine``: the greenlet SQLAlchemy
    runs a statement in calls it synchronously on the loop's thread."""

    driver = DRIVER
    is_async = True
    has_terminate = True  # a connection the garbage collector finds checked out is closed, its turn freed
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> Any:
        return _InlineDBAPI()

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        # An asyncio pool: a checkout waits by awaiting, never by blocking the loop's thread.
        return pool.AsyncAdaptedQueuePool if cls._is_url_file_db(url) else pool.StaticPool

    def do_terminate(self, dbapi_connection: Any) -> None:
        dbapi_connection.close()


registry.register(f"sqlite.{DRIVER}", __name__, "InlineSQLiteDialect")


def inline_url(url: str) -> str:
    """Any SQLite URL (``sqlite://``, ``sqlite+aiosqlite://``, ``sqlite+pysqlite://``) on this driver;
    other URLs unchanged."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return url
    return parsed.set(drivername=f"sqlite+{DRIVER}").render_as_string(hide_password=False)


class InlineSQLite:
    """One SQLite connection for code outside SQLAlchemy (the embedded log): ``await db.run(fn, ...)``
    runs ``fn(connection, ...)`` on the loop's thread in one go, waiting (by awaiting) only for the
    file's write turn or another process's lock."""

    def __init__(self, connection: InlineConnection) -> None:
        self.connection = connection

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> InlineSQLite:
        return cls(connect(os.fspath(path), isolation_level=None))

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        result: T = await greenlet_spawn(fn, self.connection, *args)
        return result

    async def close(self) -> None:
        self.connection.close()
