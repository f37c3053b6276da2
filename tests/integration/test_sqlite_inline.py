"""The embedded mode's SQLite driver (``sqlite+inline://``, shared/db/sqlite.py) on real files: statements
run on the event loop's thread, yet a writer that waits — for another coroutine's open transaction or for
another process's lock — waits by awaiting, so the rest of the process keeps serving."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import sqlite
from shared.db.engine import make_engine
from shared.db.sqlite import InlineSQLite, inline_url


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'inline.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE seats (n INTEGER PRIMARY KEY, holder TEXT NOT NULL)"))
    try:
        yield engine
    finally:
        await engine.dispose()


class Ticker:
    """Counts event-loop turns while something else waits: a blocked loop counts none."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.ticks += 1
            await asyncio.sleep(0.005)

    def __enter__(self) -> Ticker:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def test_a_writer_awaits_a_transaction_held_open_across_an_await(engine: AsyncEngine) -> None:
    order: list[str] = []
    first_holds = asyncio.Event()

    async def first() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO seats VALUES (1, 'first')"))
            first_holds.set()
            await asyncio.sleep(0.3)  # the relay publishing, say: the transaction stays open
            order.append("first commits")

    async def second() -> None:
        await first_holds.wait()
        async with engine.begin() as conn:
            order.append("second begins")
            await conn.execute(text("INSERT INTO seats VALUES (2, 'second')"))

    with Ticker() as ticker:
        started = time.monotonic()
        await asyncio.gather(first(), second())
    assert order == ["first commits", "second begins"]
    # SQLite's busy handler on the loop's thread would have frozen the ticker (and the first writer with
    # it, until the busy timeout): the loop kept turning the whole time.
    assert ticker.ticks >= 20, ticker.ticks
    assert time.monotonic() - started < 5
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT holder FROM seats ORDER BY n"))).scalars().all() == ["first", "second"]


async def test_a_failed_transaction_gives_its_turn_back(engine: AsyncEngine) -> None:
    with pytest.raises(OperationalError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO seats VALUES (1, 'kept?')"))
            await conn.execute(text("INSERT INTO no_such_table VALUES (1)"))
    async with asyncio.timeout(2):  # the next writer does not wait for a turn nobody holds
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO seats VALUES (1, 'next')"))
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT holder FROM seats"))).scalars().all() == ["next"]


_HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO seats VALUES (1, 'other process')")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


async def test_another_process_lock_is_awaited_without_blocking_the_loop(engine: AsyncEngine, tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(tmp_path / "inline.db"), "0.5"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert await asyncio.to_thread(holder.stdout.readline) == "locked\n"
        with Ticker() as ticker:
            async with engine.begin() as conn:  # refused with SQLITE_BUSY until the other process commits
                await conn.execute(text("INSERT INTO seats VALUES (2, 'this process')"))
        assert ticker.ticks >= 20, ticker.ticks
    finally:
        assert await asyncio.to_thread(holder.wait, 10) == 0
    async with engine.connect() as conn:
        holders = (await conn.execute(text("SELECT holder FROM seats ORDER BY n"))).scalars().all()
    assert holders == ["other process", "this process"]


async def test_a_turn_never_given_back_fails_after_the_timeout(engine: AsyncEngine,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite, "BUSY_TIMEOUT_SECONDS", 0.2)
    async with engine.begin() as holder:
        await holder.execute(text("INSERT INTO seats VALUES (1, 'holder')"))
        with pytest.raises(OperationalError, match="database is locked"):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO seats VALUES (2, 'waiter')"))


async def test_rows_are_read_with_the_statement(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO seats VALUES (1, 'a'), (2, 'b'), (3, 'c')"))
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT holder FROM seats ORDER BY n"))
    # the connection is back in the pool; the rows came with the statement
    assert result.scalars().all() == ["a", "b", "c"]


async def test_code_outside_sqlalchemy_runs_a_function_in_one_step(tmp_path: Path) -> None:
    db = InlineSQLite.open(tmp_path / "log.db")
    try:
        def append(conn: sqlite.InlineConnection, values: list[int]) -> int:
            conn.execute("CREATE TABLE IF NOT EXISTS log (n INTEGER)")
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO log VALUES (?)", [(v,) for v in values])
            conn.commit()
            return int(conn.execute("SELECT COUNT(*) FROM log").fetchone()[0])

        assert await db.run(append, [1, 2, 3]) == 3
        assert not db.connection.in_transaction
    finally:
        await db.close()


def test_every_sqlite_url_runs_on_the_inline_driver() -> None:
    assert inline_url("sqlite:////data/registration.db") == "sqlite+inline:////data/registration.db"
    assert inline_url("sqlite+aiosqlite:///data/x.db") == "sqlite+inline:///data/x.db"
    assert inline_url("postgresql+asyncpg://u:p@h/db") == "postgresql+asyncpg://u:p@h/db"
