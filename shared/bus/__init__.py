"""The event bus port and its two adapters (embedded SQLite log, Apache Kafka)."""

from shared.bus.port import Bus, Consumer, OutgoingMessage, Producer, ReceivedMessage, open_bus

__all__ = ["Bus", "Consumer", "OutgoingMessage", "Producer", "ReceivedMessage", "open_bus"]
