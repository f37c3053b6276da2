"""Dialect-aware statements: inserts that ignore duplicates, counter and replica upserts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection


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
