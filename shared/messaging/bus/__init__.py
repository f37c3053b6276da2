"""The event bus port and its two adapters (embedded SQLite log, Apache Kafka); ``factory.open_bus``
picks one from the settings."""

from shared.messaging.bus.port import Bus, Consumer, OutgoingMessage, Producer, ReceivedMessage

__all__ = ["Bus", "Consumer", "OutgoingMessage", "Producer", "ReceivedMessage"]
