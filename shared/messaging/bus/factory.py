"""Chooses the bus adapter the settings name (kept apart so the port imports no adapter)."""

from __future__ import annotations

from shared.messaging.bus.port import Bus
from shared.settings import PlatformSettings


def open_bus(settings: PlatformSettings) -> Bus:
    if settings.bus == "kafka":
        from shared.messaging.bus.kafka import KafkaBus

        return KafkaBus(settings.kafka_bootstrap, partitions=settings.topic_partitions)
    from shared.messaging.bus.embedded import EmbeddedBus

    return EmbeddedBus(settings.data_dir / "bus.db", partitions=settings.topic_partitions)
