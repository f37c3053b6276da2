"""`conference dashboard rebuild`: the read model is disposable (DESIGN.md §4).

Drops the dashboard's tables, creates them empty, then reads every topic from offset 0 up to the end
offsets seen at the start, applying events in large batches (one transaction per batch), and
commits the final offsets for the dashboard's consumer group so that the service, when it starts
again, continues exactly where the rebuild stopped. Run it while the dashboard service is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from services.dashboard.consumers import SUBSCRIPTIONS
from services.dashboard.models import platform
from shared.db.engine import make_engine
from shared.db.migrations import recreate_schema
from shared.messaging.bus.factory import open_bus
from shared.messaging.inbox import EventConsumer, next_offsets
from shared.observability.metrics import PlatformMetrics
from shared.settings import ServiceSettings

BATCH = 10_000  # events per transaction (10,000 replayed about a fifth faster than 5,000 here: docs/benchmarks.md)
PARSE_SLICE = 50  # events parsed between two turns of the event loop


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """CPython's cyclic garbage collector off while the events are replayed.

    A replay keeps two batches of thousands of parsed events alive at a time, and each collection of the
    older generations walks all of them again: a quarter of the replay's CPU (py-spy, 100,000 events).
    Refcounting still frees every batch once applied; the few objects in reference cycles (a few
    thousand for 100,000 events, asyncio's and the drivers') wait for the collection at the end.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
            gc.collect()


@dataclass
class RebuildResult:
    events: int
    seconds: float  # the whole rebuild, schema included
    replay_seconds: float  # reading and applying the events


async def rebuild(settings: ServiceSettings, service_dir: Path, *,
                  on_start: Callable[[int], None] = lambda total: None,
                  on_progress: Callable[[int], None] = lambda done: None) -> RebuildResult:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.to_thread(recreate_schema, service_dir, settings.database_url)
    platform_settings = settings.platform
    bus = open_bus(platform_settings)
    topics = [platform_settings.topic(t) for t in SUBSCRIPTIONS.topics]
    await bus.ensure_topics(topics)
    ends = await bus.end_offsets(topics)
    total = sum(ends.values())
    on_start(total)
    engine = make_engine(settings.database_url)
    runner = EventConsumer(group=settings.consumer_group, subscriptions=SUBSCRIPTIONS,
                           topic_prefix=platform_settings.topic_prefix, bus=bus, engine=engine,
                           processed=platform.processed_events, metrics=PlatformMetrics("dashboard"),
                           poll_interval=1.0, max_attempts=platform_settings.handler_max_attempts, batch_size=BATCH,
                           report_each_event=False, inbox_starts_empty=True)
    replay_started = loop.time()
    consumer = bus.consumer(topics, group=settings.consumer_group, from_beginning=True)
    producer = bus.producer()
    await consumer.start()
    read = {tp: 0 for tp in ends}
    done = 0
    # A two-stage pipeline: while one batch's transaction runs in the database, the next is fetched and
    # parsed here (the parse hands the loop back often, so the transaction's round trips keep moving).
    # Batches are applied one at a time and in order; a batch's offsets are committed once it is applied.
    applying: asyncio.Task[None] | None = None
    applying_offsets: dict[tuple[str, int], int] = {}
    applying_count = 0

    async def finish_applying() -> None:
        nonlocal applying, done
        if applying is None:
            return
        task, applying = applying, None
        await task
        await consumer.commit(applying_offsets)
        done += applying_count
        on_progress(done)

    try:
        with _collector_paused():
            while any(read[tp] < end for tp, end in ends.items()):
                messages = await consumer.poll(max_records=BATCH, timeout=1.0)
                # Events appended after the start are left to the service: stop at the end offsets seen.
                messages = [m for m in messages if m.offset < ends.get((m.topic, m.partition), 0)]
                if not messages:
                    continue
                batch = await runner.parse(messages, yield_every=PARSE_SLICE)
                await finish_applying()
                applying = asyncio.create_task(runner.apply(batch, producer))
                applying_offsets, applying_count = next_offsets(messages), len(messages)
                read.update(applying_offsets)
            await finish_applying()
    finally:
        if applying is not None:
            applying.cancel()
            with contextlib.suppress(BaseException):
                await applying
        await consumer.stop()
        await producer.stop()
        await engine.dispose()
    return RebuildResult(events=done, seconds=loop.time() - started, replay_seconds=loop.time() - replay_started)
