"""Apache Kafka adapter (aiokafka): idempotent producer with acks=all, manual offset commits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError, TopicAlreadyExistsError

from shared.messaging.bus.port import OutgoingMessage, ReceivedMessage

log = logging.getLogger(__name__)


class KafkaProducerAdapter:
    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            enable_idempotence=True,
            acks="all",
            linger_ms=0,
            request_timeout_ms=10000,
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        await (await self.send(messages))

    async def send(self, messages: Sequence[OutgoingMessage]) -> Awaitable[object]:
        if self._producer is None:
            await self.start()
        assert self._producer is not None
        # send() only enqueues (in order: the idempotent producer keeps it per partition); awaiting every
        # delivery future together lets the batch go out together.
        futures = [
            await self._producer.send(m.topic, m.value, key=m.key.encode(), headers=list(m.headers))
            for m in messages
        ]
        return asyncio.gather(*futures)


class KafkaConsumerAdapter:
    def __init__(self, bootstrap: str, topics: Sequence[str], group: str, *, from_beginning: bool = False) -> None:
        self._topics = list(topics)
        self._from_beginning = from_beginning
        self._consumer = AIOKafkaConsumer(
            *(() if from_beginning else topics),
            bootstrap_servers=bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=1000,
            session_timeout_ms=10000,
            heartbeat_interval_ms=1000,
        )

    async def start(self) -> None:
        await self._consumer.start()
        if self._from_beginning:
            # Manual assignment of every partition: no group membership, so no rebalance mid-replay.
            partitions = await _all_partitions(self._consumer, self._topics)
            self._consumer.assign(partitions)
            await self._consumer.seek_to_beginning(*partitions)

    async def stop(self) -> None:
        await self._consumer.stop()

    async def poll(self, *, max_records: int, timeout: float) -> list[ReceivedMessage]:
        batches = await self._consumer.getmany(timeout_ms=int(timeout * 1000), max_records=max_records)
        received: list[ReceivedMessage] = []
        for records in batches.values():
            for r in records:
                received.append(ReceivedMessage(
                    topic=r.topic, partition=r.partition, offset=r.offset,
                    key=r.key.decode() if r.key is not None else None,
                    value=r.value if r.value is not None else b"",
                    headers=tuple(r.headers) if r.headers else (),  # already (key, value) pairs
                ))
        return received

    async def lag(self) -> dict[tuple[str, int], int]:
        """Events not yet read in each assigned partition: end offset (highwater) minus position."""
        assigned = list(self._consumer.assignment())
        unknown = [tp for tp in assigned if self._consumer.highwater(tp) is None]
        ends: dict[TopicPartition, int] = {}
        if unknown:
            ends = await asyncio.wait_for(self._consumer.end_offsets(unknown), timeout=2)
        lag: dict[tuple[str, int], int] = {}
        for tp in assigned:
            end = self._consumer.highwater(tp)
            end = ends.get(tp) if end is None else end
            if end is None:
                continue
            position = await asyncio.wait_for(self._consumer.position(tp), timeout=2)
            lag[(tp.topic, tp.partition)] = max(int(end) - int(position), 0)
        return lag

    async def commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        # A rebalance may have taken partitions away since the poll: aiokafka refuses to commit those
        # (IllegalStateError); their new owner re-reads from the group's offset and the inbox dedupes.
        assigned = self._consumer.assignment()
        mine = {TopicPartition(t, p): o for (t, p), o in offsets.items() if TopicPartition(t, p) in assigned}
        if len(mine) < len(offsets):
            log.info("not committing %d partition(s) lost to a rebalance", len(offsets) - len(mine))
        if not mine:
            return
        try:
            await self._consumer.commit(mine)
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning("offset commit lost to a rebalance: %s", exc)


class KafkaBus:
    name = "kafka"

    def __init__(self, bootstrap: str, *, partitions: int = 4) -> None:
        self.bootstrap = bootstrap
        self.partitions = partitions

    def producer(self) -> KafkaProducerAdapter:
        return KafkaProducerAdapter(self.bootstrap)

    def consumer(self, topics: Sequence[str], *, group: str, from_beginning: bool = False) -> KafkaConsumerAdapter:
        return KafkaConsumerAdapter(self.bootstrap, topics, group, from_beginning=from_beginning)

    async def end_offsets(self, topics: Sequence[str]) -> dict[tuple[str, int], int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = await _all_partitions(consumer, topics)
            ends = await consumer.end_offsets(partitions) if partitions else {}
            return {(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}
        finally:
            await consumer.stop()

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=10000)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            missing = [t for t in topics if t not in existing]
            if missing:
                try:
                    await admin.create_topics([
                        NewTopic(name=t, num_partitions=self.partitions, replication_factor=1,
                                 topic_configs={"retention.ms": "-1"})
                        for t in missing
                    ])
                except TopicAlreadyExistsError:
                    pass
        finally:
            await admin.close()

    async def ping(self) -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=2000)
        try:
            await asyncio.wait_for(admin.start(), timeout=3)
            await asyncio.wait_for(admin.list_topics(), timeout=3)
            return True
        except (KafkaError, OSError, TimeoutError):
            return False
        finally:
            try:
                await admin.close()
            except Exception:
                pass

    async def close(self) -> None:
        return None


async def _all_partitions(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    # consumer.topics() fetches metadata but keeps it to itself; ask the client for the cluster it returns.
    cluster = await consumer._client.fetch_all_metadata()
    return [TopicPartition(topic, p) for topic in topics for p in sorted(cluster.partitions_for_topic(topic) or ())]
