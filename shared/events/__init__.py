"""The event contract: the public API for integrators (DESIGN.md §3)."""

from shared.events.catalogue import CATALOGUE, EventDefinition, definition_for, topic_of
from shared.events.envelope import CloudEvent, InvalidEvent, new_event, parse_event

__all__ = [
    "CATALOGUE",
    "CloudEvent",
    "EventDefinition",
    "InvalidEvent",
    "definition_for",
    "new_event",
    "parse_event",
    "topic_of",
]
