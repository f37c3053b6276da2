"""The bus contract suite runs once per adapter: the embedded SQLite log and the real Kafka broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devkit import stack
from shared.messaging.bus import Bus

PARTITIONS = 4


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
async def bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Bus]:
    adapter: Bus
    if request.param == "kafka":
        from shared.messaging.bus.kafka import KafkaBus

        env = request.getfixturevalue("kafka_env")
        adapter = KafkaBus(stack.kafka_bootstrap(env), partitions=PARTITIONS)
    else:
        from shared.messaging.bus.embedded import EmbeddedBus

        adapter = EmbeddedBus(tmp_path / "bus.db", partitions=PARTITIONS)
    try:
        yield adapter
    finally:
        await adapter.close()


@pytest.fixture
def prefix() -> str:
    """Topic and group names of one test never meet another's (the broker is shared across runs)."""
    return stack.topic_prefix()
