"""Engines for PostgreSQL and SQLite, and how to tell an unreachable database from a bad statement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.db.sqlite import inline_url
from shared.files import private_file


def make_engine(url: str, *, pool_size: int = 20, read_only: bool = False) -> AsyncEngine:
    """An engine for ``url``, of at most ``pool_size`` connections on PostgreSQL. On SQLite, ``read_only``
    engines begin DEFERRED transactions so that readers (GET requests) never queue behind writers for the
    write lock; on PostgreSQL it is the same."""
    if url.startswith("sqlite"):
        prepare_sqlite_file(url)
        # Statements run on the loop's thread, waits for the file's lock are awaited (shared/db/sqlite.py).
        engine = create_async_engine(inline_url(url))
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling breaks SAVEPOINT; take it over (SQLAlchemy docs).
        # IMMEDIATE takes the write lock up front, so two writers never deadlock on lock upgrade.
        begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"
        event.listen(engine.sync_engine, "begin", lambda conn: conn.exec_driver_sql(begin))
        return engine
    # No pre-ping: it costs a round trip per checkout. A connection found dead on use is invalidated by
    # SQLAlchemy and the request answers 503 (retry); the pool then reconnects on its own.
    # No overflow: an overflow connection is closed when given back while the pool is full, so a steady
    # load above pool_size opened a PostgreSQL backend (a fork, TLS negotiation) for every few requests.
    # The pool opens its connections only when needed, up to the bound (20: the former 10 + 10 overflow).
    return create_async_engine(url, pool_size=pool_size, max_overflow=0, pool_recycle=1800)


def prepare_sqlite_file(url: str) -> None:
    """Create a SQLite database's file (0600, so its WAL and SHM files are 0600 too) and its directory
    (0700) before SQLite would create them with the umask's modes; nothing for other URLs."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            private_file(Path(database))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
    dbapi_connection.isolation_level = None


def is_foreign_key_violation(exc: BaseException) -> bool:
    """An INSERT naming a row that does not exist (PostgreSQL SQLSTATE 23503, SQLite's message)."""
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) == "23503" or "FOREIGN KEY constraint failed" in str(orig)


# SQLSTATEs that mean "the database is not there right now" rather than "this statement is wrong":
# class 08 (connection exception) and 57P01-57P03 (shutting down, crashed, not accepting connections yet).
UNREACHABLE_STATES = ("08", "57P01", "57P02", "57P03")


def database_unreachable(exc: BaseException) -> bool:
    """An error a retry fixes once the database is back (a restart, a cut connection), as opposed to
    an error about the statement itself."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, OSError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    for error in (exc.orig, getattr(exc.orig, "__cause__", None)):
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str) and state.startswith(UNREACHABLE_STATES):
            return True
    return False
