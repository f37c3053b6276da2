"""Idempotent consumers: the inbox (``processed_events``) and the runner that feeds handlers.

A batch of messages is applied in one database transaction, each event inside its own savepoint
together with its ``processed_events`` row, so a redelivered event changes nothing. Offsets are
committed to the bus only after the database commit. An event whose handler keeps failing, or
that cannot be parsed at all, goes to ``<topic>.dlq.<group>`` with the reason in its headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from prometheus_client import Histogram
from pydantic import BaseModel
from sqlalchemy import Table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db import bulk
from shared.db.engine import database_unreachable
from shared.db.statements import insert_ignoring_duplicates
from shared.events import CloudEvent, InvalidEvent, parse_event
from shared.messaging.bus import Bus, Consumer, OutgoingMessage, Producer, ReceivedMessage
from shared.messaging.subscriptions import Subscriptions
from shared.messaging.supervise import Backoff, supervise
from shared.observability.logging import get_logger, request_id_var
from shared.observability.metrics import PlatformMetrics, dead_letter_reason_class

log = logging.getLogger(__name__)
events_log = get_logger("shared.inbox")
LAG_REFRESH_SECONDS = 1.0



def dead_letter_topic(topic: str, group: str) -> str:
    return f"{topic}.dlq.{group}"


@dataclass
class _Outcome:
    # What the metrics count, by kind: applied events per (topic, type), skipped redeliveries per topic.
    applied_kinds: Counter[tuple[str, str]] = field(default_factory=Counter)
    duplicate_topics: Counter[str] = field(default_factory=Counter)
    dead: list[tuple[ReceivedMessage, str]] | None = None
    dead_event_ids: list[str] | None = None


@dataclass
class ParsedBatch:
    """A batch read from the bus, its events parsed, not yet applied."""

    started: float
    outcome: _Outcome
    events: list[tuple[ReceivedMessage, CloudEvent, BaseModel]] = field(default_factory=list)


class EventConsumer:
    """Runs one consumer group over some topics, applying the events a service cares about."""

    def __init__(self, *, group: str, subscriptions: Subscriptions, bus: Bus, engine: AsyncEngine,
                 processed: Table, metrics: PlatformMetrics, poll_interval: float, topic_prefix: str = "",
                 max_attempts: int = 3, batch_size: int = 500, on_applied: Callable[[], None] | None = None,
                 report_each_event: bool = True, inbox_starts_empty: bool = False) -> None:
        self.group = group
        self.batch_handler = subscriptions.batch_handler
        self.topics = [topic_prefix + t for t in subscriptions.topics]
        self.handlers = subscriptions.handlers
        self.bus = bus
        self.engine = engine
        self.processed = processed
        self.metrics = metrics
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.batch_size = batch_size
        self.on_applied = on_applied
        # Off for a rebuild: nobody scrapes its process, and a log line and a histogram sample per event
        # were a tenth of its time. The batch's counters and latency are still kept.
        self.report_each_event = report_each_event
        # A rebuild's: nearly every event is new, so a batch is remembered with a plain INSERT first.
        self.inbox_starts_empty = inbox_starts_empty
        self.running = False
        self._stopping = False
        self._lag_checked = 0.0
        self._lag_labels: set[tuple[str, str, str]] = set()
        metrics.declare_consumer(group, ((topic_prefix + d.topic, d.type)
                                         for entry in subscriptions.entries for d in entry.definitions))

    def request_stop(self) -> None:
        """Graceful shutdown: finish the batch in hand, commit its offsets, leave the group."""
        self._stopping = True

    async def run(self) -> None:
        await supervise(self._consume, name=f"consumer {self.group}", stopping=lambda: self._stopping)

    async def _consume(self, backoff: Backoff) -> None:
        consumer: Consumer | None = None
        producer: Producer | None = None
        try:
            # Created up front: a broker without topic auto-creation still takes the dead letters.
            await self.bus.ensure_topics([*self.topics, *(dead_letter_topic(t, self.group) for t in self.topics)])
            consumer = self.bus.consumer(self.topics, group=self.group)
            await consumer.start()
            producer = self.bus.producer()
            self.running = True
            backoff.reset()
            while not self._stopping:
                messages = await consumer.poll(max_records=self.batch_size, timeout=self.poll_interval)
                if messages:
                    await self.process(messages, producer)
                    await consumer.commit(next_offsets(messages))
                await self._update_lag(consumer)
        finally:
            self.running = False
            for part in (consumer, producer):
                if part is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(part.stop(), timeout=5)
            self._forget_lag()

    async def _update_lag(self, consumer: Consumer) -> None:
        """``consumer_lag_events`` per assigned partition, at most once a second."""
        now = time.monotonic()
        if now - self._lag_checked < LAG_REFRESH_SECONDS:
            return
        self._lag_checked = now
        read_lag = getattr(consumer, "lag", None)
        if read_lag is None:
            return
        try:
            lag = await read_lag()
        except Exception as exc:  # a broker hiccup must not restart the consumer
            log.debug("consumer %s cannot read its lag: %r", self.group, exc)
            return
        labels = {(self.group, topic, str(partition)) for topic, partition in lag}
        for stale in self._lag_labels - labels:
            self._remove_lag(stale)
        for (topic, partition), behind in lag.items():
            self.metrics.consumer_lag.labels(group=self.group, topic=topic, partition=str(partition)).set(behind)
        self._lag_labels = labels

    def _forget_lag(self) -> None:
        for labels in self._lag_labels:
            self._remove_lag(labels)
        self._lag_labels = set()

    def _remove_lag(self, labels: tuple[str, str, str]) -> None:
        try:
            self.metrics.consumer_lag.remove(*labels)
        except KeyError:
            pass

    async def process(self, messages: Sequence[ReceivedMessage], producer: Producer) -> None:
        """Apply a batch in one transaction; dead-letter what cannot be applied."""
        await self.apply(await self.parse(messages), producer)

    async def parse(self, messages: Sequence[ReceivedMessage], *, yield_every: int = 0) -> ParsedBatch:
        """Read a batch's events (no database). ``yield_every`` > 0 hands the event loop back every so many
        events, so that a previous batch's statements (a rebuild's pipeline) progress while this one is read."""
        batch = ParsedBatch(started=time.perf_counter(), outcome=_Outcome(dead=[], dead_event_ids=[]))
        assert batch.outcome.dead is not None
        for i, message in enumerate(messages):
            if yield_every and i and i % yield_every == 0:
                await asyncio.sleep(0)
            try:
                envelope, payload = parse_event(message.value)
            except InvalidEvent as exc:
                batch.outcome.dead.append((message, str(exc)))
                continue
            if envelope.type in self.handlers:
                batch.events.append((message, envelope, payload))
        return batch

    async def apply(self, batch: ParsedBatch, producer: Producer) -> None:
        """Apply a parsed batch in one transaction; dead-letter what cannot be applied."""
        started, outcome, parsed = batch.started, batch.outcome, batch.events
        assert outcome.dead is not None and outcome.dead_event_ids is not None
        if parsed and not await self._apply_batch(parsed, outcome):
            async with self.engine.begin() as conn:
                for message, envelope, payload in parsed:
                    await self._apply_one(conn, message, envelope, payload, outcome)
        # Dead letters go out after the commit; only once they are out are their events remembered as
        # processed, so a crash or a failed publish in between repeats them (same event id), never loses them.
        if outcome.dead:
            await producer.publish([self._dead_letter(m, reason) for m, reason in outcome.dead])
            if outcome.dead_event_ids:
                now = datetime.now(UTC)
                async with self.engine.begin() as conn:
                    await conn.execute(insert_ignoring_duplicates(conn, self.processed), [
                        {"consumer": self.group, "event_id": event_id, "processed_at": now}
                        for event_id in outcome.dead_event_ids])
            for m, reason in outcome.dead:
                self.metrics.events_dead_lettered.labels(topic=m.topic, reason=dead_letter_reason_class(reason)).inc()
                events_log.error("event dead-lettered", consumer=self.group, topic=m.topic, partition=m.partition,
                                 offset=m.offset, reason=reason)
        for topic, count in outcome.duplicate_topics.items():  # one labels() lookup per kind, not per event
            self.metrics.events_duplicate.labels(topic=topic).inc(count)
        for (topic, event_type), count in outcome.applied_kinds.items():
            self.metrics.events_consumed.labels(topic=topic, type=event_type).inc(count)
        self.metrics.consumer_batch_latency.labels(group=self.group).observe(time.perf_counter() - started)
        if outcome.applied_kinds and self.on_applied is not None:
            self.on_applied()

    async def _apply_batch(self, parsed: list[tuple[ReceivedMessage, CloudEvent, BaseModel]],
                           outcome: _Outcome) -> bool:
        """The fast path: dedupe the whole batch with one INSERT … RETURNING, hand the new events to the
        batch handler, one transaction. False (nothing applied) sends the batch down the per-event path,
        which retries and dead-letters event by event."""
        if self.batch_handler is None:
            return False
        first: dict[str, tuple[CloudEvent, BaseModel]] = {}
        for _, envelope, payload in parsed:
            first.setdefault(envelope.id, (envelope, payload))
        now = datetime.now(UTC)
        started = time.perf_counter()
        try:
            async with self.engine.begin() as conn:
                fresh_ids = await self._remember(conn, list(first), now)
                fresh = [event for event_id, event in first.items() if event_id in fresh_ids]
                await self.batch_handler(conn, fresh)
        except Exception as exc:
            if _is_connection_error(exc) or ((task := asyncio.current_task()) is not None and task.cancelling()):
                raise
            events_log.warning("batch apply failed; applying event by event", consumer=self.group,
                               events=len(parsed), error=repr(exc))
            return False
        unseen = {envelope.id for envelope, _ in fresh}
        for message, envelope, _ in parsed:  # the first copy of a fresh event is applied, every other one skipped
            if envelope.id in unseen:
                unseen.discard(envelope.id)
                outcome.applied_kinds[message.topic, envelope.type] += 1
            else:
                outcome.duplicate_topics[message.topic] += 1
        events_log.info("events applied", consumer=self.group, events=len(fresh), duplicates=len(parsed) - len(fresh))
        if self.report_each_event:
            self._report_batch(parsed, {envelope.id for envelope, _ in fresh}, time.perf_counter() - started)
        return True

    async def _remember(self, conn: AsyncConnection, event_ids: list[str], now: datetime) -> set[str]:
        """Remember a batch's events as processed; return the ids that were not remembered before."""
        fixed = {"consumer": self.group, "processed_at": now}
        if self.inbox_starts_empty:
            # A plain INSERT is half the database's work of one that skips conflicts; an event that the
            # log holds twice (a publish repeated after a failure) fails it, and the batch then skips them.
            try:
                async with conn.begin_nested():
                    await bulk.insert_values(conn, self.processed, "event_id", event_ids, fixed)
                return set(event_ids)
            except IntegrityError:
                pass
        return await bulk.insert_missing(conn, self.processed, "event_id", event_ids, fixed)

    def _report_batch(self, parsed: list[tuple[ReceivedMessage, CloudEvent, BaseModel]], fresh_ids: set[str],
                      elapsed: float) -> None:
        """Per event, as on the per-event path: a log line carrying its correlation id, and its share of
        the batch's time in ``event_handler_duration_seconds``."""
        share = elapsed / max(len(fresh_ids), 1)
        # Formatting a line costs more than applying the event: skip the work when INFO is off.
        log_each = logging.getLogger("shared.inbox").isEnabledFor(logging.INFO)
        latency: dict[tuple[str, str], Histogram] = {}
        for message, envelope, _ in parsed:
            if envelope.id not in fresh_ids:
                continue
            fresh_ids.discard(envelope.id)  # the same event twice in one batch: reported once
            kind = (message.topic, envelope.type)
            if (histogram := latency.get(kind)) is None:
                histogram = latency[kind] = self.metrics.handler_latency.labels(topic=kind[0], type=kind[1])
            histogram.observe(share)
            if log_each:
                events_log.info("event applied", correlationid=envelope.correlationid,
                                request_id=envelope.correlationid, event_id=envelope.id,
                                event_type=envelope.type, consumer=self.group, topic=message.topic,
                                partition=message.partition, offset=message.offset)

    async def _apply_one(self, conn: AsyncConnection, message: ReceivedMessage, envelope: CloudEvent,
                         payload: BaseModel, outcome: _Outcome) -> None:
        assert outcome.dead is not None and outcome.dead_event_ids is not None
        if envelope.id in outcome.dead_event_ids:  # the same event twice in one batch: dead-letter it once
            outcome.duplicate_topics[message.topic] += 1
            return
        # While this event is handled, every log line carries the request id that caused it.
        token = request_id_var.set(envelope.correlationid)
        try:
            with structlog.contextvars.bound_contextvars(
                    correlationid=envelope.correlationid, event_id=envelope.id, event_type=envelope.type,
                    consumer=self.group):
                await self._attempt(conn, message, envelope, payload, outcome)
        finally:
            request_id_var.reset(token)

    async def _attempt(self, conn: AsyncConnection, message: ReceivedMessage, envelope: CloudEvent,
                       payload: BaseModel, outcome: _Outcome) -> None:
        handler = self.handlers[envelope.type]
        assert outcome.dead is not None and outcome.dead_event_ids is not None
        for attempt in range(1, self.max_attempts + 1):
            started = time.perf_counter()
            try:
                async with conn.begin_nested():
                    inserted = await conn.execute(
                        insert_ignoring_duplicates(conn, self.processed).values(
                            consumer=self.group, event_id=envelope.id, processed_at=datetime.now(UTC)))
                    if inserted.rowcount == 0:
                        outcome.duplicate_topics[message.topic] += 1
                        return
                    await handler(conn, envelope, payload)
                outcome.applied_kinds[message.topic, envelope.type] += 1
                self.metrics.handler_latency.labels(topic=message.topic, type=envelope.type).observe(
                    time.perf_counter() - started)
                events_log.info("event applied", topic=message.topic, partition=message.partition,
                                offset=message.offset)
                return
            except Exception as exc:
                if _is_connection_error(exc) or ((task := asyncio.current_task()) is not None and task.cancelling()):
                    raise
                if attempt < self.max_attempts:
                    self.metrics.events_retried.labels(topic=message.topic, type=envelope.type).inc()
                    events_log.warning("event handler failed; retrying", attempt=attempt, error=repr(exc))
                    continue
                outcome.dead.append((message, f"handler_failed: {type(exc).__name__}: {exc}"[:500]))
                # Remembered as processed by process() once the dead letter is out, not before.
                outcome.dead_event_ids.append(envelope.id)

    def _dead_letter(self, message: ReceivedMessage, reason: str) -> OutgoingMessage:
        headers = (
            ("dlq-reason", reason.encode()),
            ("dlq-consumer-group", self.group.encode()),
            ("dlq-original-topic", message.topic.encode()),
            ("dlq-original-partition", str(message.partition).encode()),
            ("dlq-original-offset", str(message.offset).encode()),
        )
        return OutgoingMessage(topic=dead_letter_topic(message.topic, self.group),
                               key=message.key or "", value=message.value, headers=headers)


def next_offsets(messages: Sequence[ReceivedMessage]) -> dict[tuple[str, int], int]:
    offsets: dict[tuple[str, int], int] = {}
    for m in messages:
        tp = (m.topic, m.partition)
        offsets[tp] = max(offsets.get(tp, 0), m.offset + 1)
    return offsets


def _is_connection_error(exc: BaseException) -> bool:
    # The database went away (a restart): not the event's fault, so never a dead letter; the consumer
    # restarts from its committed offsets instead.
    return database_unreachable(exc)
