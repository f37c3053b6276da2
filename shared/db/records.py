"""Loading one row as a typed record, or raising the domain's "not found" error.

Every service maps its rows to records (frozen dataclasses of its domain) with one mapper per
aggregate; use cases and handlers never see ``Row`` objects or ``dict[str, Any]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from sqlalchemy import Row, Select, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.errors import DomainError

R = TypeVar("R")
# A row lock for the rest of the transaction: "update" to change the row, "share" to keep it from changing.
Lock = Literal["update", "share"] | None


async def first_or_raise(conn: AsyncConnection, query: Select[Any], *, to_record: Callable[[Row[Any]], R],
                         missing: DomainError, lock: Lock = None) -> R:
    """The first row of ``query`` as a record; ``missing`` is raised when there is none."""
    if lock is not None:
        query = query.with_for_update(read=lock == "share")
    row = (await conn.execute(query)).first()
    if row is None:
        raise missing
    return to_record(row)


async def get_or_raise(conn: AsyncConnection, table: Table, key: object, *, to_record: Callable[[Row[Any]], R],
                       missing: DomainError, column: str = "id", lock: Lock = None) -> R:
    """The row of ``table`` whose ``column`` equals ``key``, as a record, or ``missing`` raised."""
    return await first_or_raise(conn, select(table).where(table.c[column] == key), to_record=to_record,
                                missing=missing, lock=lock)
