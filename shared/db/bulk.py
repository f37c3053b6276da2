"""Many rows in one statement: the batch consumers' inserts, upserts and key lookups.

On PostgreSQL the rows travel as one JSON document (``json_populate_recordset``) in a single statement
whose text does not depend on the number of rows, so asyncpg prepares it once and sends one string:
SQLAlchemy's executemany builds and binds a parameter set per row, and arrays per column
(``unnest``) make asyncpg check every element; both cost more than the database's own work in a
dashboard rebuild. Other dialects (SQLite, embedded mode) take the portable
statements of ``shared.db.statements``. Every helper keeps the meaning of its portable twin: same
conflict rule, same rows written, same rows returned.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from pydantic_core import to_json
from sqlalchemy import Insert, Row, Select, Table, TextClause, bindparam, insert, select, text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.statements import insert_ignoring_duplicates, upsert_adding, upsert_replacing

_SQLITE_IN_CHUNK = 500  # SQLite caps a statement's parameters (999 in older builds)
# The statements' text depends on the table and columns only; built once per process.
_STATEMENTS: dict[tuple[Any, ...], TextClause] = {}


# The portable statements (SQLite) are built once too: building one and its cache key cost more than
# running it on the embedded default, which applies a few per event.
@functools.cache
def _plain_insert(table: Table) -> Insert:
    return insert(table)


_RETURNING: dict[tuple[str, Table, str], Any] = {}


def _returning(conn: AsyncConnection, table: Table, column: str) -> Any:
    key = (conn.dialect.name, table, column)
    if (statement := _RETURNING.get(key)) is None:
        statement = _RETURNING[key] = insert_ignoring_duplicates(conn, table).returning(table.c[column])
    return statement


@functools.cache
def _select_in(table: Table, key: str) -> Select[Any]:
    return select(table).where(table.c[key].in_(bindparam("values", expanding=True)))


def _postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


def _array_of(table: Table, column: str, dialect: Dialect) -> str:
    # An explicit array type: asyncpg then encodes the list without guessing, and the SQL is stable.
    return f"CAST(:{column} AS {table.c[column].type.compile(dialect=dialect)}[])"


def _quoted(dialect: Dialect, *names: str) -> str:
    return ", ".join(dialect.identifier_preparer.quote(n) for n in names)


def _rows_json(rows: Sequence[dict[str, Any]]) -> str:
    # pydantic-core's encoder: a quarter of json.dumps's time for a rebuild's batch. Dates and times as ISO
    # 8601 and Decimals as their digits (exact: PostgreSQL reads the digits, never a binary float).
    return to_json(rows).decode()


def _insert_json(table: Table, dialect: Dialect, names: tuple[str, ...], conflict: str) -> TextClause:
    key = ("insert", table, names, conflict)
    if (statement := _STATEMENTS.get(key)) is None:
        # Each JSON object becomes a row of the table's type: PostgreSQL converts (and checks) every value.
        columns, name = _quoted(dialect, *names), _quoted(dialect, table.name)
        statement = _STATEMENTS[key] = text(
            f"INSERT INTO {name} ({columns}) SELECT {columns} FROM json_populate_recordset(NULL::{name}, "
            f"CAST(:rows AS json)) {conflict}")
    return statement


async def insert_missing(conn: AsyncConnection, table: Table, column: str, values: Sequence[Any],
                         fixed: dict[str, Any]) -> set[Any]:
    """One row per value of ``column`` (the other columns from ``fixed``), ``ON CONFLICT DO NOTHING``:
    the values whose rows were inserted, i.e. were not there yet (an inbox's new event ids)."""
    if not values:
        return set()
    if not _postgres(conn):
        result = await conn.execute(_returning(conn, table, column), [fixed | {column: value} for value in values])
        return set(result.scalars())
    statement = _insert_unnest(conn, table, column, fixed,
                               f"ON CONFLICT DO NOTHING RETURNING {_quoted(conn.dialect, column)}")
    return set((await conn.execute(statement, {**fixed, column: list(values)})).scalars())


def _insert_unnest(conn: AsyncConnection, table: Table, column: str, fixed: dict[str, Any], tail: str) -> TextClause:
    key = ("unnest", table, column, tuple(fixed), tail)
    if (statement := _STATEMENTS.get(key)) is None:
        # One array for the one column that varies: the fixed values are bound once, not once per row.
        dialect = conn.dialect
        names = (*fixed, column)
        selected = ", ".join([*(f"CAST(:{n} AS {table.c[n].type.compile(dialect=dialect)})" for n in fixed), "v"])
        statement = _STATEMENTS[key] = text(
            f"INSERT INTO {_quoted(dialect, table.name)} ({_quoted(dialect, *names)}) SELECT {selected} "
            f"FROM unnest({_array_of(table, column, dialect)}) AS v {tail}")
    return statement


async def insert_rows(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """A plain ``INSERT`` of rows covering every column: an existing key fails the statement.

    Half the database's work of an upsert (no speculative insertion): for rows known to be new, e.g. the
    entities a consumer has just looked up and not found."""
    if not rows:
        return
    if not _postgres(conn):
        await conn.execute(_plain_insert(table), list(rows))
        return
    names = tuple(c.name for c in table.columns)
    await conn.execute(_insert_json(table, conn.dialect, names, ""), {"rows": _rows_json(rows)})


async def insert_values(conn: AsyncConnection, table: Table, column: str, values: Sequence[Any],
                        fixed: dict[str, Any]) -> None:
    """``insert_missing`` for values known to be new: a plain ``INSERT``, so an existing one fails it."""
    if not values:
        return
    if not _postgres(conn):
        await conn.execute(_plain_insert(table), [fixed | {column: value} for value in values])
        return
    await conn.execute(_insert_unnest(conn, table, column, fixed, ""), {**fixed, column: list(values)})


async def upsert_replacing_rows(conn: AsyncConnection, table: Table, keys: Sequence[str],
                                rows: Sequence[dict[str, Any]]) -> None:
    """``INSERT … ON CONFLICT (keys) DO UPDATE SET`` every other column, for rows covering every column.

    The rows must not repeat a key among themselves (PostgreSQL refuses to update a row twice in one
    statement): pass each entity's last state once."""
    if not rows:
        return
    if not _postgres(conn):
        await conn.execute(upsert_replacing(conn, table, keys, None), list(rows))
        return
    names = tuple(c.name for c in table.columns)
    quote = conn.dialect.identifier_preparer.quote
    updates = ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in names if n not in keys)
    conflict = f"ON CONFLICT ({_quoted(conn.dialect, *keys)}) DO UPDATE SET {updates}"
    await conn.execute(_insert_json(table, conn.dialect, names, conflict), {"rows": _rows_json(rows)})


async def upsert_adding_rows(conn: AsyncConnection, table: Table, keys: Sequence[str], increments: Sequence[str],
                             rows: Sequence[dict[str, Any]]) -> None:
    """``statements.upsert_adding`` for many rows (counters: ``col = col + excluded.col``), one statement.

    The rows must not repeat a key among themselves."""
    if not rows:
        return
    if not _postgres(conn):
        await conn.execute(upsert_adding(conn, table, keys, None, increments), list(rows))
        return
    quote = conn.dialect.identifier_preparer.quote
    name = quote(table.name)
    adds = ", ".join(f"{quote(c)} = {name}.{quote(c)} + excluded.{quote(c)}" for c in increments)
    conflict = f"ON CONFLICT ({_quoted(conn.dialect, *keys)}) DO UPDATE SET {adds}"
    await conn.execute(_insert_json(table, conn.dialect, (*keys, *increments), conflict), {"rows": _rows_json(rows)})


def _select_any(table: Table, dialect: Dialect, key: str) -> TextClause:
    cache_key = ("select", table, key)
    if (statement := _STATEMENTS.get(cache_key)) is None:
        names = _quoted(dialect, *(c.name for c in table.columns))
        where = f"{_quoted(dialect, key)} = ANY({_array_of(table, key, dialect)})"
        statement = _STATEMENTS[cache_key] = text(f"SELECT {names} FROM {_quoted(dialect, table.name)} WHERE {where}")
    return statement


async def rows_by_key(conn: AsyncConnection, table: Table, key: str, values: Sequence[Any]) -> list[Row[Any]]:
    """The rows of ``table`` whose ``key`` column is one of ``values`` (one statement on PostgreSQL)."""
    if not values:
        return []
    if _postgres(conn):
        return list((await conn.execute(_select_any(table, conn.dialect, key), {key: list(values)})).all())
    found: list[Row[Any]] = []
    for i in range(0, len(values), _SQLITE_IN_CHUNK):
        chunk = list(values[i:i + _SQLITE_IN_CHUNK])
        found += (await conn.execute(_select_in(table, key), {"values": chunk})).all()
    return found
