"""Database plumbing shared by the services: engines, naming convention, types, migrations."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, MetaData, Numeric, String, event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


class MoneyType(TypeDecorator[Decimal]):
    """Exact money: NUMERIC(20, 2) on PostgreSQL, integer fen on SQLite (whose NUMERIC is a float)."""

    impl = Numeric(20, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(20, 2, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return int((Decimal(value) * 100).to_integral_value())
        return Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / 100).quantize(Decimal("0.01"))
        return Decimal(value).quantize(Decimal("0.01"))


class RateType(TypeDecorator[Decimal]):
    """An exact exchange rate: NUMERIC(18, 8) on PostgreSQL, decimal text on SQLite."""

    impl = Numeric(18, 8)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(18, 8, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(value) if dialect.name == "sqlite" else Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value)).normalize()


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every dialect (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str, *, pool_size: int = 10, read_only: bool = False) -> AsyncEngine:
    """An engine for ``url``. On SQLite, ``read_only`` engines begin DEFERRED transactions so that
    readers (GET requests) never queue behind writers for the write lock; on PostgreSQL it is the same."""
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling breaks SAVEPOINT; take it over (SQLAlchemy docs).
        # IMMEDIATE takes the write lock up front, so two writers never deadlock on lock upgrade.
        begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"
        event.listen(engine.sync_engine, "begin", lambda conn: conn.exec_driver_sql(begin))
        return engine
    # No pre-ping: it costs a round trip per checkout. A connection found dead on use is invalidated by
    # SQLAlchemy and the request answers 503 (retry); the pool then reconnects on its own.
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size,
                               pool_recycle=1800)


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
    dbapi_connection.isolation_level = None


def is_foreign_key_violation(exc: BaseException) -> bool:
    """An INSERT naming a row that does not exist (PostgreSQL SQLSTATE 23503, SQLite's message)."""
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) == "23503" or "FOREIGN KEY constraint failed" in str(orig)


def dialect_insert(conn: AsyncConnection | Connection, table: Any) -> Any:
    """An INSERT that knows ``ON CONFLICT`` in the connection's dialect (PostgreSQL or SQLite)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def insert_ignoring_duplicates(conn: AsyncConnection | Connection, table: Any) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING``."""
    return dialect_insert(conn, table).on_conflict_do_nothing()


def upsert_adding(conn: AsyncConnection | Connection, table: Any, keys: Iterable[str],
                  values: dict[str, Any] | None, increments: Iterable[str]) -> Any:
    """``INSERT … ON CONFLICT (keys) DO UPDATE SET col = col + excluded.col`` for counters.

    With ``values=None`` the statement takes its rows at execution: ``conn.execute(stmt, rows)``."""
    stmt = dialect_insert(conn, table)
    if values is not None:
        stmt = stmt.values(**values)
    return stmt.on_conflict_do_update(
        index_elements=list(keys), set_={c: table.c[c] + stmt.excluded[c] for c in increments})


def upsert_replacing(conn: AsyncConnection | Connection, table: Any, keys: Iterable[str],
                     values: dict[str, Any] | None) -> Any:
    """``INSERT … ON CONFLICT (keys) DO UPDATE SET`` every other column: a replica row's latest state.

    With ``values=None`` the statement covers every column and takes its rows at execution."""
    keys = list(keys)
    stmt = dialect_insert(conn, table)
    columns = [c.name for c in table.columns] if values is None else list(values)
    if values is not None:
        stmt = stmt.values(**values)
    return stmt.on_conflict_do_update(index_elements=keys,
                                      set_={c: stmt.excluded[c] for c in columns if c not in keys})


def run_migrations(service_dir: Path, database_url: str) -> None:
    """``alembic upgrade head`` for one service (blocking; the env.py runs its own event loop)."""
    from alembic import command

    command.upgrade(_alembic_config(service_dir, database_url), "head")


def recreate_schema(service_dir: Path, database_url: str) -> None:
    """Drop every table of a service (``alembic downgrade base``) and create them again, empty."""
    from alembic import command

    config = _alembic_config(service_dir, database_url)
    command.downgrade(config, "base")
    command.upgrade(config, "head")


def _alembic_config(service_dir: Path, database_url: str) -> Any:
    from alembic.config import Config

    _ensure_sqlite_dir(database_url)
    config = Config(str(service_dir / "alembic.ini"))
    config.set_main_option("script_location", str(service_dir / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


async def migrate(service_dir: Path, database_url: str) -> None:
    await asyncio.to_thread(run_migrations, service_dir, database_url)


# SQLSTATEs that mean "the database is not there right now" rather than "this statement is wrong":
# class 08 (connection exception) and 57P01-57P03 (shutting down, crashed, not accepting connections yet).
_UNREACHABLE_STATES = ("08", "57P01", "57P02", "57P03")


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
        if isinstance(state, str) and state.startswith(_UNREACHABLE_STATES):
            return True
    return False
