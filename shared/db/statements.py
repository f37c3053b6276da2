"""Dialect-aware statements: inserts that ignore duplicates, counter and replica upserts."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection


def dialect_insert(conn: AsyncConnection | Connection, table: Any) -> Any:
    """An INSERT that knows ``ON CONFLICT`` in the connection's dialect (PostgreSQL or SQLite)."""
    return _dialect_insert(conn.dialect.name, table)


def _dialect_insert(dialect: str, table: Any) -> Any:
    if dialect == "postgresql":
        return pg_insert(table)
    return sqlite_insert(table)


def insert_ignoring_duplicates(conn: AsyncConnection | Connection, table: Any) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING``."""
    return _insert_ignoring_duplicates(conn.dialect.name, table)


@functools.cache
def _insert_ignoring_duplicates(dialect: str, table: Any) -> Any:
    return _dialect_insert(dialect, table).on_conflict_do_nothing()


def upsert_adding(conn: AsyncConnection | Connection, table: Any, keys: Iterable[str],
                  values: dict[str, Any] | None, increments: Iterable[str]) -> Any:
    """``INSERT … ON CONFLICT (keys) DO UPDATE SET col = col + excluded.col`` for counters.

    With ``values=None`` the statement takes its rows at execution: ``conn.execute(stmt, rows)``."""
    if values is None:
        return _upsert_adding_rows(conn.dialect.name, table, tuple(keys), tuple(increments))
    return _adding(dialect_insert(conn, table).values(**values), table, keys, increments)


def upsert_replacing(conn: AsyncConnection | Connection, table: Any, keys: Iterable[str],
                     values: dict[str, Any] | None) -> Any:
    """``INSERT … ON CONFLICT (keys) DO UPDATE SET`` every other column: a replica row's latest state.

    With ``values=None`` the statement covers every column and takes its rows at execution."""
    if values is None:
        return _upsert_replacing_rows(conn.dialect.name, table, tuple(keys))
    return _replacing(dialect_insert(conn, table).values(**values), keys, values)


def _adding(stmt: Any, table: Any, keys: Iterable[str], increments: Iterable[str]) -> Any:
    return stmt.on_conflict_do_update(
        index_elements=list(keys), set_={c: table.c[c] + stmt.excluded[c] for c in increments})


def _replacing(stmt: Any, keys: Iterable[str], columns: Iterable[str]) -> Any:
    keys = list(keys)
    return stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in columns if c not in keys})


# The statements that take their rows at execution are built once per dialect and shape: SQLAlchemy
# statements are immutable, and building one (and its cache key) cost more than running it on SQLite
# (the embedded default applies a few per event).
@functools.cache
def _upsert_adding_rows(dialect: str, table: Any, keys: tuple[str, ...], increments: tuple[str, ...]) -> Any:
    return _adding(_dialect_insert(dialect, table), table, keys, increments)


@functools.cache
def _upsert_replacing_rows(dialect: str, table: Any, keys: tuple[str, ...]) -> Any:
    return _replacing(_dialect_insert(dialect, table), keys, [c.name for c in table.columns])
