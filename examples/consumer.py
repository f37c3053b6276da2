"""A runnable integrator's consumer of the conference platform's events (see docs/integrators.md).

It subscribes to the topics with its own consumer group, reads from the beginning the first time,
deduplicates by the CloudEvents ``id`` (delivery is at least once), keeps its own state in SQLite
together with the ids it has processed — in one transaction — and commits Kafka offsets only after
that transaction. Here the "state" is a count of events per type and the registered delegates per
country; a real integration would write to its own system instead.

    pip install aiokafka
    python examples/consumer.py --bootstrap localhost:9092 --group acme-crm \\
        --topic conference.registration --topic conference.projects --topic conference.network

Prints one JSON line per event applied. ``--max-events N`` stops after N new events; ``--idle-exit S``
stops after S seconds without any message (both for scripts and tests). Ctrl-C (SIGINT) or SIGTERM
stops it cleanly: the batch in hand is committed, and the last line, ``{"summary": …}``, says what it
built; the exit status is 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sqlite3
import sys
import time
from typing import Any

from aiokafka import AIOKafkaConsumer

SCHEMA = """
CREATE TABLE IF NOT EXISTS processed_events (event_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS events_by_type (type TEXT PRIMARY KEY, events INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS delegates (delegate_id TEXT PRIMARY KEY, country TEXT NOT NULL, status TEXT NOT NULL);
"""


def apply(db: sqlite3.Connection, event: dict[str, Any]) -> bool:
    """Apply one event inside the caller's transaction; False if it was seen before (a redelivery)."""
    inserted = db.execute("INSERT OR IGNORE INTO processed_events (event_id) VALUES (?)", (event["id"],))
    if inserted.rowcount == 0:
        return False
    db.execute("INSERT INTO events_by_type (type, events) VALUES (?, 1) "
               "ON CONFLICT (type) DO UPDATE SET events = events + 1", (event["type"],))
    data = event["data"]
    if event["type"].startswith("conference.registration.delegate_"):
        # Every delegate event carries the delegate's state after the change: keep the latest.
        db.execute("INSERT INTO delegates (delegate_id, country, status) VALUES (?, ?, ?) "
                   "ON CONFLICT (delegate_id) DO UPDATE SET country = excluded.country, status = excluded.status",
                   (data["delegate_id"], data["country"], data["status"]))
    return True


def registered_by_country(db: sqlite3.Connection) -> dict[str, int]:
    rows = db.execute("SELECT country, count(*) FROM delegates WHERE status != 'cancelled' GROUP BY country")
    return dict(rows.fetchall())


def stop_on_signals() -> asyncio.Event:
    """An event set by the first SIGINT or SIGTERM; a second one interrupts at once (default handling)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def request_stop() -> None:
        stop.set()
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)

    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, request_stop)
    return stop


async def consume(args: argparse.Namespace) -> int:
    stop = stop_on_signals()  # before anything slow: a signal during start-up also ends cleanly
    db = sqlite3.connect(args.state, isolation_level=None)
    db.executescript(SCHEMA)
    consumer = AIOKafkaConsumer(
        *args.topic, bootstrap_servers=args.bootstrap, group_id=args.group,
        enable_auto_commit=False,        # commit only after our own transaction
        auto_offset_reset="earliest",    # a new group reads the whole history (retention is unlimited)
    )
    applied = 0
    last_message = time.monotonic()
    try:
        await consumer.start()
        while not stop.is_set() and (args.max_events is None or applied < args.max_events):
            # Between batches only: a batch is applied and committed whole before a signal is obeyed.
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            if not batches:
                if args.idle_exit is not None and time.monotonic() - last_message > args.idle_exit:
                    break
                continue
            last_message = time.monotonic()
            db.execute("BEGIN")
            try:
                for records in batches.values():
                    for record in records:  # in order within a partition, i.e. per subject
                        try:
                            event = json.loads(record.value)
                            fresh = apply(db, event)
                        except (ValueError, KeyError, TypeError) as exc:
                            print(json.dumps({"skipped": f"{record.topic}[{record.partition}]@{record.offset}",
                                              "reason": repr(exc)}), file=sys.stderr)
                            continue
                        if fresh:
                            applied += 1
                        print(json.dumps({"id": event["id"], "type": event["type"], "subject": event["subject"],
                                          "correlationid": event.get("correlationid"), "duplicate": not fresh}),
                              flush=True)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            await consumer.commit()  # after the commit above: a crash in between only means a redelivery
    finally:
        await consumer.stop()
        print(json.dumps({"summary": {"applied": applied, "registered_by_country": registered_by_country(db)}}),
              flush=True)
        db.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", default="localhost:9092")
    parser.add_argument("--group", required=True, help="Your own consumer group id.")
    parser.add_argument("--topic", action="append", required=True, help="Repeat for each topic.")
    parser.add_argument("--state", default="consumer-state.db", help="SQLite file of this consumer's state.")
    parser.add_argument("--max-events", type=int, default=None)
    parser.add_argument("--idle-exit", type=float, default=None)
    return asyncio.run(consume(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
