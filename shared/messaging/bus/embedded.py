"""Embedded bus: a durable log in one SQLite file, with topics, partitions and group offsets.

It behaves like a small Kafka: records are appended per partition with increasing offsets and kept
forever; a consumer group stores the next offset per partition; live members of a group share the
partitions of its topics (round robin over members sorted by id, re-evaluated on heartbeat).
Readers in the same process are woken at append; readers in other processes poll.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Collection, Mapping, Sequence
from pathlib import Path

import aiosqlite

from shared.files import private_file
from shared.messaging.bus.port import OutgoingMessage, ReceivedMessage, already_delivered, partition_for

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (name TEXT PRIMARY KEY, partitions INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, "offset" INTEGER NOT NULL,
    key TEXT, value BLOB NOT NULL, headers TEXT NOT NULL, appended_at REAL NOT NULL,
    PRIMARY KEY (topic, partition, "offset")) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_offsets (
    grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (grp, topic, partition)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_members (
    grp TEXT NOT NULL, member TEXT NOT NULL, heartbeat REAL NOT NULL,
    PRIMARY KEY (grp, member)) WITHOUT ROWID;
"""

MEMBER_TIMEOUT_SECONDS = 10.0
HEARTBEAT_SECONDS = 1.0
CROSS_PROCESS_POLL_SECONDS = 0.1
# SQLite refuses a compound SELECT of more than 500 terms (SQLITE_MAX_COMPOUND_SELECT).
_PARTITIONS_PER_READ = 100


_Waiter = tuple[asyncio.AbstractEventLoop, asyncio.Event, frozenset[str]]


class _AppendSignal:
    """Wakes readers of one log file in this process when a writer appends to a topic they read.

    Only those readers: ``conference run`` has several consumer groups on one file, and waking all of
    them at every append had each read its partitions while the one that mattered waited its turn on
    the event loop."""

    _by_path: dict[str, _AppendSignal] = {}
    _guard = threading.Lock()

    def __init__(self) -> None:
        self._waiters: set[_Waiter] = set()
        self._lock = threading.Lock()

    @classmethod
    def for_path(cls, path: Path) -> _AppendSignal:
        with cls._guard:
            return cls._by_path.setdefault(str(path.resolve()), cls())

    def notify(self, topics: Collection[str]) -> None:
        with self._lock:
            waiters = [w for w in self._waiters if not w[2].isdisjoint(topics)]
        for loop, event, _ in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    def register(self, topics: Collection[str]) -> _Waiter:
        """Register before reading, so an append between the read and the wait is not missed."""
        entry = (asyncio.get_running_loop(), asyncio.Event(), frozenset(topics))
        with self._lock:
            self._waiters.add(entry)
        return entry

    def discard(self, entry: _Waiter) -> None:
        with self._lock:
            self._waiters.discard(entry)

    async def wait(self, entry: _Waiter, timeout: float) -> None:
        try:
            await asyncio.wait_for(entry[1].wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self.discard(entry)


async def _connect(path: Path) -> aiosqlite.Connection:
    private_file(path)  # 0600 before SQLite opens it: bus.db-wal and bus.db-shm take its mode
    conn = await aiosqlite.connect(path, timeout=30, isolation_level=None)
    try:
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA busy_timeout=30000")
        await conn.executescript(_SCHEMA)
    except BaseException:
        # Each aiosqlite connection owns a worker thread that only close() ends; one left open (say,
        # a readiness ping cancelled at shutdown) keeps the interpreter from exiting.
        await asyncio.shield(conn.close())
        raise
    return conn


async def _end_offset(conn: aiosqlite.Connection, topic: str, partition: int) -> int:
    """The offset the next record of the partition gets (its count: offsets start at 0, no gaps)."""
    rows = list(await conn.execute_fetchall(
        'SELECT COALESCE(MAX("offset") + 1, 0) FROM records WHERE topic=? AND partition=?', (topic, partition)))
    return int(rows[0][0])


@functools.cache
def _read_statement(partitions: int) -> str:
    """The read of ``partitions`` partitions from their positions: per partition (topic, partition,
    position, limit), then the limit of the whole."""
    one = ('SELECT * FROM (SELECT topic, partition, "offset", key, value, headers FROM records '
           'WHERE topic=? AND partition=? AND "offset">=? ORDER BY "offset" LIMIT ?)')
    return " UNION ALL ".join([one] * partitions) + " LIMIT ?"


class EmbeddedProducer:
    def __init__(self, bus: EmbeddedBus) -> None:
        self._bus = bus
        self._conn: aiosqlite.Connection | None = None

    async def start(self) -> None:
        if self._conn is None:
            self._conn = await _connect(self._bus.path)

    async def stop(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.shield(conn.close())

    async def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        if not messages:
            return
        await self.start()
        assert self._conn is not None
        conn = self._conn
        now = time.time()
        await conn.execute("BEGIN IMMEDIATE")
        try:
            partitions: dict[str, int] = {}
            next_offsets: dict[tuple[str, int], int] = {}
            rows = []
            for m in messages:
                if m.topic not in partitions:
                    partitions[m.topic] = await self._bus._partitions_of(conn, m.topic, create=True)
                p = partition_for(m.key, partitions[m.topic])
                tp = (m.topic, p)
                if tp not in next_offsets:
                    next_offsets[tp] = await _end_offset(conn, *tp)
                offset = next_offsets[tp]
                next_offsets[tp] = offset + 1
                headers = json.dumps([[k, v.decode("utf-8", "replace")] for k, v in m.headers])
                rows.append((m.topic, p, offset, m.key, m.value, headers, now))
            await conn.executemany(
                'INSERT INTO records (topic, partition, "offset", key, value, headers, appended_at) '
                "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        _AppendSignal.for_path(self._bus.path).notify(partitions.keys())

    async def send(self, messages: Sequence[OutgoingMessage]) -> Awaitable[object]:
        await self.publish(messages)  # committed to the log: nothing left to wait for
        return already_delivered()


class EmbeddedConsumer:
    def __init__(self, bus: EmbeddedBus, topics: Sequence[str], group: str, *, from_beginning: bool = False) -> None:
        self._bus = bus
        self._from_beginning = from_beginning
        self._topics = list(topics)
        self._group = group
        self._member = f"{group}-{uuid.uuid4().hex[:12]}"
        self._conn: aiosqlite.Connection | None = None
        self._positions: dict[tuple[str, int], int] = {}
        self._last_heartbeat = 0.0

    async def start(self) -> None:
        self._conn = await _connect(self._bus.path)
        for topic in self._topics:
            await self._bus._partitions_of(self._conn, topic, create=True)
        if self._from_beginning:
            # Alone and from offset 0, not a member sharing partitions (a rebuild).
            for topic in self._topics:
                for p in range(await self._bus._partitions_of(self._conn, topic, create=True)):
                    self._positions[(topic, p)] = 0
            return
        await self._heartbeat(force=True)

    async def stop(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await conn.execute("DELETE FROM group_members WHERE grp=? AND member=?", (self._group, self._member))
            finally:
                await asyncio.shield(conn.close())

    async def _heartbeat(self, *, force: bool = False) -> None:
        now = time.time()
        if not force and now - self._last_heartbeat < HEARTBEAT_SECONDS:
            return
        assert self._conn is not None
        conn = self._conn
        self._last_heartbeat = now
        await conn.execute(
            "INSERT INTO group_members (grp, member, heartbeat) VALUES (?, ?, ?) "
            "ON CONFLICT (grp, member) DO UPDATE SET heartbeat=excluded.heartbeat",
            (self._group, self._member, now))
        await conn.execute("DELETE FROM group_members WHERE grp=? AND heartbeat < ?",
                           (self._group, now - MEMBER_TIMEOUT_SECONDS))
        cur = await conn.execute("SELECT member FROM group_members WHERE grp=? ORDER BY member", (self._group,))
        members = [r[0] for r in await cur.fetchall()]
        index, count = members.index(self._member), len(members)
        all_partitions: list[tuple[str, int]] = []
        for topic in sorted(self._topics):
            n = await self._bus._partitions_of(conn, topic, create=True)
            all_partitions.extend((topic, p) for p in range(n))
        mine = {tp for i, tp in enumerate(all_partitions) if i % count == index}
        if mine != set(self._positions):
            # Newly assigned partitions resume from the group's committed offset.
            positions = {tp: pos for tp, pos in self._positions.items() if tp in mine}
            for tp in mine - set(positions):
                cur = await conn.execute(
                    "SELECT next_offset FROM group_offsets WHERE grp=? AND topic=? AND partition=?",
                    (self._group, *tp))
                row = await cur.fetchone()
                positions[tp] = int(row[0]) if row else 0
            self._positions = positions

    async def poll(self, *, max_records: int, timeout: float) -> list[ReceivedMessage]:
        deadline = time.monotonic() + timeout
        signal = _AppendSignal.for_path(self._bus.path)
        while True:
            if not self._from_beginning:
                await self._heartbeat()
            waiter = signal.register(self._topics)
            received = await self._read(max_records)
            remaining = deadline - time.monotonic()
            if received or remaining <= 0:
                signal.discard(waiter)
                return received
            await signal.wait(waiter, min(remaining, CROSS_PROCESS_POLL_SECONDS))

    async def _read(self, max_records: int) -> list[ReceivedMessage]:
        assert self._conn is not None
        assigned = sorted(self._positions.items())
        received: list[ReceivedMessage] = []
        # One statement (one hop to the connection's thread) for the assigned partitions instead of one
        # per partition. The outer LIMIT applies to the whole UNION ALL, which SQLite runs left to right
        # and stops once it has that many rows: the partitions are read in order, each from its
        # position, as many as the budget takes, as a loop over partitions would.
        for start in range(0, len(assigned), _PARTITIONS_PER_READ):
            budget = max_records - len(received)
            if budget <= 0:
                break
            chunk = assigned[start:start + _PARTITIONS_PER_READ]
            parameters: list[object] = []
            for (topic, partition), position in chunk:
                parameters += (topic, partition, position, budget)
            for topic, partition, offset, key, value, headers in await self._conn.execute_fetchall(
                    _read_statement(len(chunk)), (*parameters, budget)):
                received.append(ReceivedMessage(
                    topic=topic, partition=partition, offset=offset, key=key, value=bytes(value),
                    headers=tuple((k, v.encode()) for k, v in json.loads(headers))))
                self._positions[(topic, partition)] = offset + 1
        return received

    async def lag(self) -> dict[tuple[str, int], int]:
        """Events not yet read in each assigned partition: end offset minus this member's position."""
        assert self._conn is not None
        lag: dict[tuple[str, int], int] = {}
        for (topic, partition), position in sorted(self._positions.items()):
            lag[(topic, partition)] = max(await _end_offset(self._conn, topic, partition) - position, 0)
        return lag

    async def commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        if not offsets:
            return
        assert self._conn is not None
        await self._conn.executemany(
            "INSERT INTO group_offsets (grp, topic, partition, next_offset) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (grp, topic, partition) DO UPDATE SET next_offset=excluded.next_offset",
            [(self._group, t, p, o) for (t, p), o in offsets.items()])


class EmbeddedBus:
    name = "embedded"

    def __init__(self, path: Path, *, partitions: int = 4) -> None:
        self.path = path
        self.partitions = partitions
        # A topic's partition count never changes once it is in the file (INSERT OR IGNORE, no UPDATE),
        # so it is read once per process, not on every append and heartbeat.
        self._known_partitions: dict[str, int] = {}

    async def _partitions_of(self, conn: aiosqlite.Connection, topic: str, *, create: bool) -> int:
        known = self._known_partitions.get(topic)
        if known is not None:
            return known
        rows = list(await conn.execute_fetchall("SELECT partitions FROM topics WHERE name=?", (topic,)))
        if rows:
            self._known_partitions[topic] = int(rows[0][0])
            return self._known_partitions[topic]
        if not create:
            return 0
        await conn.execute("INSERT OR IGNORE INTO topics (name, partitions) VALUES (?, ?)",
                           (topic, self.partitions))
        return await self._partitions_of(conn, topic, create=False)

    def producer(self) -> EmbeddedProducer:
        return EmbeddedProducer(self)

    def consumer(self, topics: Sequence[str], *, group: str, from_beginning: bool = False) -> EmbeddedConsumer:
        return EmbeddedConsumer(self, topics, group, from_beginning=from_beginning)

    async def end_offsets(self, topics: Sequence[str]) -> dict[tuple[str, int], int]:
        conn = await _connect(self.path)
        try:
            ends: dict[tuple[str, int], int] = {}
            for topic in topics:
                for p in range(await self._partitions_of(conn, topic, create=True)):
                    ends[(topic, p)] = await _end_offset(conn, topic, p)
            return ends
        finally:
            await asyncio.shield(conn.close())

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        conn = await _connect(self.path)
        try:
            for topic in topics:
                await self._partitions_of(conn, topic, create=True)
        finally:
            await asyncio.shield(conn.close())

    async def ping(self) -> bool:
        try:
            conn = await _connect(self.path)
        except Exception:
            return False
        await asyncio.shield(conn.close())
        return True

    async def close(self) -> None:
        return None
