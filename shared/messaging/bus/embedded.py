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

from shared.db.sqlite import InlineConnection, InlineSQLite
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


async def _open(path: Path) -> InlineSQLite:
    private_file(path)  # 0600 before SQLite opens it: bus.db-wal and bus.db-shm take its mode
    db = InlineSQLite.open(path)
    try:
        await db.run(_prepare)
    except BaseException:
        await db.close()
        raise
    return db


def _prepare(conn: InlineConnection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(_SCHEMA)


def _end_offset(conn: InlineConnection, topic: str, partition: int) -> int:
    """The offset the next record of the partition gets (its count: offsets start at 0, no gaps)."""
    rows = conn.execute('SELECT COALESCE(MAX("offset") + 1, 0) FROM records WHERE topic=? AND partition=?',
                        (topic, partition)).fetchall()
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
        self._db: InlineSQLite | None = None

    async def start(self) -> None:
        if self._db is None:
            self._db = await _open(self._bus.path)

    async def stop(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    async def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        if not messages:
            return
        await self.start()
        assert self._db is not None
        topics = await self._db.run(self._append, messages)
        _AppendSignal.for_path(self._bus.path).notify(topics)

    def _append(self, conn: InlineConnection, messages: Sequence[OutgoingMessage]) -> Collection[str]:
        """The messages appended in one transaction (one step of the event loop); the topics written."""
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            partitions: dict[str, int] = {}
            next_offsets: dict[tuple[str, int], int] = {}
            rows = []
            for m in messages:
                if m.topic not in partitions:
                    partitions[m.topic] = self._bus._partitions_of(conn, m.topic, create=True)
                p = partition_for(m.key, partitions[m.topic])
                tp = (m.topic, p)
                if tp not in next_offsets:
                    next_offsets[tp] = _end_offset(conn, *tp)
                offset = next_offsets[tp]
                next_offsets[tp] = offset + 1
                headers = json.dumps([[k, v.decode("utf-8", "replace")] for k, v in m.headers])
                rows.append((m.topic, p, offset, m.key, m.value, headers, now))
            conn.executemany(
                'INSERT INTO records (topic, partition, "offset", key, value, headers, appended_at) '
                "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        return partitions.keys()

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
        self._db: InlineSQLite | None = None
        self._positions: dict[tuple[str, int], int] = {}
        self._last_heartbeat = 0.0

    async def start(self) -> None:
        self._db = await _open(self._bus.path)
        await self._db.run(self._join)

    def _join(self, conn: InlineConnection) -> None:
        for topic in self._topics:
            self._bus._partitions_of(conn, topic, create=True)
        if self._from_beginning:
            # Alone and from offset 0, not a member sharing partitions (a rebuild).
            for topic in self._topics:
                for p in range(self._bus._partitions_of(conn, topic, create=True)):
                    self._positions[(topic, p)] = 0
            return
        self._heartbeat(conn, force=True)

    async def stop(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            try:
                await db.run(self._leave)
            finally:
                await db.close()

    def _leave(self, conn: InlineConnection) -> None:
        conn.execute("DELETE FROM group_members WHERE grp=? AND member=?", (self._group, self._member))

    def _heartbeat(self, conn: InlineConnection, *, force: bool = False) -> None:
        now = time.time()
        if not force and now - self._last_heartbeat < HEARTBEAT_SECONDS:
            return
        self._last_heartbeat = now
        conn.execute(
            "INSERT INTO group_members (grp, member, heartbeat) VALUES (?, ?, ?) "
            "ON CONFLICT (grp, member) DO UPDATE SET heartbeat=excluded.heartbeat",
            (self._group, self._member, now))
        conn.execute("DELETE FROM group_members WHERE grp=? AND heartbeat < ?",
                     (self._group, now - MEMBER_TIMEOUT_SECONDS))
        members = [r[0] for r in conn.execute(
            "SELECT member FROM group_members WHERE grp=? ORDER BY member", (self._group,)).fetchall()]
        index, count = members.index(self._member), len(members)
        all_partitions: list[tuple[str, int]] = []
        for topic in sorted(self._topics):
            n = self._bus._partitions_of(conn, topic, create=True)
            all_partitions.extend((topic, p) for p in range(n))
        mine = {tp for i, tp in enumerate(all_partitions) if i % count == index}
        if mine != set(self._positions):
            # Newly assigned partitions resume from the group's committed offset.
            positions = {tp: pos for tp, pos in self._positions.items() if tp in mine}
            for tp in mine - set(positions):
                row = conn.execute(
                    "SELECT next_offset FROM group_offsets WHERE grp=? AND topic=? AND partition=?",
                    (self._group, *tp)).fetchone()
                positions[tp] = int(row[0]) if row else 0
            self._positions = positions

    async def poll(self, *, max_records: int, timeout: float) -> list[ReceivedMessage]:
        assert self._db is not None
        deadline = time.monotonic() + timeout
        signal = _AppendSignal.for_path(self._bus.path)
        while True:
            waiter = signal.register(self._topics)
            received = await self._db.run(self._read, max_records)
            remaining = deadline - time.monotonic()
            if received or remaining <= 0:
                signal.discard(waiter)
                return received
            await signal.wait(waiter, min(remaining, CROSS_PROCESS_POLL_SECONDS))

    def _read(self, conn: InlineConnection, max_records: int) -> list[ReceivedMessage]:
        """The next records of the assigned partitions (after a heartbeat that is due)."""
        if not self._from_beginning:
            self._heartbeat(conn)
        assigned = sorted(self._positions.items())
        received: list[ReceivedMessage] = []
        # One statement for the assigned partitions instead of one per partition. The outer LIMIT
        # applies to the whole UNION ALL, which SQLite runs left to right and stops once it has that
        # many rows: the partitions are read in order, each from its position, as many as the budget
        # takes, as a loop over partitions would.
        for start in range(0, len(assigned), _PARTITIONS_PER_READ):
            budget = max_records - len(received)
            if budget <= 0:
                break
            chunk = assigned[start:start + _PARTITIONS_PER_READ]
            parameters: list[object] = []
            for (topic, partition), position in chunk:
                parameters += (topic, partition, position, budget)
            for topic, partition, offset, key, value, headers in conn.execute(
                    _read_statement(len(chunk)), (*parameters, budget)).fetchall():
                received.append(ReceivedMessage(
                    topic=topic, partition=partition, offset=offset, key=key, value=bytes(value),
                    headers=tuple((k, v.encode()) for k, v in json.loads(headers))))
                self._positions[(topic, partition)] = offset + 1
        return received

    async def lag(self) -> dict[tuple[str, int], int]:
        """Events not yet read in each assigned partition: end offset minus this member's position."""
        assert self._db is not None
        return await self._db.run(self._lag)

    def _lag(self, conn: InlineConnection) -> dict[tuple[str, int], int]:
        return {(topic, partition): max(_end_offset(conn, topic, partition) - position, 0)
                for (topic, partition), position in sorted(self._positions.items())}

    async def commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        if not offsets:
            return
        assert self._db is not None
        await self._db.run(self._commit, offsets)

    def _commit(self, conn: InlineConnection, offsets: Mapping[tuple[str, int], int]) -> None:
        conn.executemany(
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

    def _partitions_of(self, conn: InlineConnection, topic: str, *, create: bool) -> int:
        known = self._known_partitions.get(topic)
        if known is not None:
            return known
        rows = conn.execute("SELECT partitions FROM topics WHERE name=?", (topic,)).fetchall()
        if rows:
            self._known_partitions[topic] = int(rows[0][0])
            return self._known_partitions[topic]
        if not create:
            return 0
        conn.execute("INSERT OR IGNORE INTO topics (name, partitions) VALUES (?, ?)", (topic, self.partitions))
        return self._partitions_of(conn, topic, create=False)

    def producer(self) -> EmbeddedProducer:
        return EmbeddedProducer(self)

    def consumer(self, topics: Sequence[str], *, group: str, from_beginning: bool = False) -> EmbeddedConsumer:
        return EmbeddedConsumer(self, topics, group, from_beginning=from_beginning)

    async def end_offsets(self, topics: Sequence[str]) -> dict[tuple[str, int], int]:
        db = await _open(self.path)
        try:
            return await db.run(self._end_offsets, topics)
        finally:
            await db.close()

    def _end_offsets(self, conn: InlineConnection, topics: Sequence[str]) -> dict[tuple[str, int], int]:
        return {(topic, p): _end_offset(conn, topic, p)
                for topic in topics for p in range(self._partitions_of(conn, topic, create=True))}

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        db = await _open(self.path)
        try:
            await db.run(lambda conn: [self._partitions_of(conn, topic, create=True) for topic in topics])
        finally:
            await db.close()

    async def ping(self) -> bool:
        try:
            db = await _open(self.path)
        except Exception:
            return False
        await db.close()
        return True

    async def close(self) -> None:
        return None
