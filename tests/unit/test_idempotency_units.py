"""The idempotency middleware's pure parts: who the caller is, and a unit of work inside the request's
held transaction (it leaves committing to the middleware)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db.tables import add_platform_tables
from shared.http.idempotency import caller_hash, scoped_key_hash
from shared.messaging.outbox import HeldTransaction, Outbox, UnitOfWork, held_transaction


class HeldConnection:
    """Stands for the middleware's connection: a unit of work in it must never end its transaction."""

    def __init__(self) -> None:
        self.executed: list[Any] = []

    async def execute(self, statement: Any, rows: Any = None) -> None:
        self.executed.append((statement, rows))

    async def commit(self) -> None:
        raise AssertionError("the unit of work committed the middleware's transaction")

    async def rollback(self) -> None:
        raise AssertionError("the unit of work rolled back the middleware's transaction")

    async def close(self) -> None:
        raise AssertionError("the unit of work closed the middleware's connection")


class NoEngine:
    async def connect(self) -> None:
        raise AssertionError("a unit of work inside a held transaction opened its own connection")


def unit_of_work() -> UnitOfWork:
    outbox = Outbox("network", add_platform_tables(MetaData()))
    return UnitOfWork(cast(AsyncEngine, NoEngine()), outbox)


@pytest.mark.parametrize("authorization", ["Bearer tok-1", "bearer tok-1", "BEARER   tok-1 ", "  Bearer\ttok-1"])
def test_the_bearer_scheme_and_spaces_do_not_change_the_caller(authorization: str) -> None:
    assert caller_hash(authorization) == caller_hash("Bearer tok-1")


def test_tokens_differ_by_case_and_the_hash_keeps_neither_token_nor_key() -> None:
    assert caller_hash("Bearer tok-1") != caller_hash("Bearer TOK-1")
    assert caller_hash(None) == caller_hash("") != caller_hash("Bearer tok-1")
    scoped = scoped_key_hash("Bearer tok-1", b"/organizations", "my-key")
    assert len(scoped) == 64 and "tok-1" not in scoped and "my-key" not in scoped
    assert scoped != scoped_key_hash("Bearer tok-1", b"/projects", "my-key")


async def test_a_commit_inside_a_held_transaction_leaves_it_open() -> None:
    conn = HeldConnection()
    held = HeldTransaction(cast(AsyncConnection, conn))
    token = held_transaction.set(held)
    try:
        async with unit_of_work() as uow:
            assert uow.conn is cast(AsyncConnection, conn)
            await uow.commit()
    finally:
        held_transaction.reset(token)
    assert not held.aborted and not held.in_use
    assert held.wake == []  # no events: no relay to wake


async def test_a_unit_of_work_that_ends_without_commit_aborts_the_held_transaction() -> None:
    held = HeldTransaction(cast(AsyncConnection, HeldConnection()))
    token = held_transaction.set(held)
    try:
        with pytest.raises(LookupError):
            async with unit_of_work():
                raise LookupError("a rule refused it")
    finally:
        held_transaction.reset(token)
    assert held.aborted


async def test_two_units_of_work_at_once_in_one_held_transaction_are_refused() -> None:
    held = HeldTransaction(cast(AsyncConnection, HeldConnection()))
    token = held_transaction.set(held)
    try:
        async with unit_of_work():
            with pytest.raises(RuntimeError, match="two units of work"):
                await unit_of_work().__aenter__()
    finally:
        held_transaction.reset(token)


async def test_a_held_transaction_of_a_finished_request_is_not_borrowed() -> None:
    held = HeldTransaction(cast(AsyncConnection, HeldConnection()))
    held.closed = True  # the request is over; a task it spawned runs its own transaction
    token = held_transaction.set(held)
    try:
        with pytest.raises(AssertionError, match="opened its own connection"):
            await unit_of_work().__aenter__()
    finally:
        held_transaction.reset(token)
