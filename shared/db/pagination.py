"""Keyset pagination with opaque cursors: ``{"items": [...], "next_cursor": ...}``."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.errors import DomainError


class InvalidCursor(DomainError):
    status = 400
    code = "invalid_cursor"
    title = "Invalid cursor"


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null at the end.")


LimitQuery = Annotated[int, Query(ge=1, le=500, description="Page size (default 50, max 500).")]
CursorQuery = Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page.")]


def encode_cursor(last_key: str) -> str:
    return base64.urlsafe_b64encode(last_key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        # validate=True: characters outside the alphabet are an error, not silently dropped.
        key = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        key = ""
    if not key or not key.isprintable():
        raise InvalidCursor("the cursor is not one this service issued; start again without it")
    return key


async def keyset_page(conn: AsyncConnection, query: Select[Any], id_column: ColumnElement[str], *, limit: int,
                      cursor: str | None) -> tuple[list[Any], str | None]:
    """One page of ``query`` in ``id_column`` order, after the row the cursor names."""
    query = query.order_by(id_column).limit(limit + 1)
    after = decode_cursor(cursor)
    if after:
        query = query.where(id_column > after)
    rows = list((await conn.execute(query)).all())
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor
