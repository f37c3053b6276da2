"""What a service consumes: ``subscribe(EventType, handler)`` per event class, topic and type names
taken from the event catalogue.

A handler is typed by the event class it subscribes to; subscribing to a base class (such as
``OrganizationState``) covers every catalogue event of that class. A consumer group may also give a
batch handler, a fast path that applies many new events at once; the typed handlers stay the
per-event fallback (retries, dead letters).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.events.catalogue import CATALOGUE, EventDefinition
from shared.events.envelope import CloudEvent

E = TypeVar("E", bound=BaseModel)

# Applies one event inside the consumer's transaction (``processed_events`` is written beside it).
Handler = Callable[[AsyncConnection, CloudEvent, Any], Awaitable[None]]
# Applies many new (already deduplicated) events, in order, inside the caller's transaction.
BatchHandler = Callable[[AsyncConnection, list[tuple[CloudEvent, BaseModel]]], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """One event class a service consumes and the handler that applies it."""

    event: type[BaseModel]
    definitions: tuple[EventDefinition, ...]
    handler: Handler


def subscribe(event: type[E], handler: Callable[[AsyncConnection, CloudEvent, E], Awaitable[None]]) -> Subscription:
    definitions = tuple(d for d in CATALOGUE.values() if issubclass(d.model, event))
    if not definitions:
        raise LookupError(f"{event.__name__} is neither an event of the catalogue nor a base class of one")
    return Subscription(event=event, definitions=definitions, handler=handler)


@dataclass(frozen=True)
class Subscriptions:
    """Everything one consumer group of a service reads."""

    entries: tuple[Subscription, ...]
    batch_handler: BatchHandler | None = None

    @classmethod
    def of(cls, *entries: Subscription, batch_handler: BatchHandler | None = None) -> Subscriptions:
        seen: dict[str, type[BaseModel]] = {}
        for entry in entries:
            for definition in entry.definitions:
                if definition.type in seen:
                    raise ValueError(f"{definition.type} is subscribed twice ({seen[definition.type].__name__} "
                                     f"and {entry.event.__name__})")
                seen[definition.type] = entry.event
        return cls(entries=tuple(entries), batch_handler=batch_handler)

    @property
    def topics(self) -> list[str]:
        """The catalogue topics these events arrive on (before any topic prefix)."""
        return sorted({d.topic for entry in self.entries for d in entry.definitions})

    @property
    def handlers(self) -> dict[str, Handler]:
        """Event type name -> handler."""
        return {d.type: entry.handler for entry in self.entries for d in entry.definitions}

    def __bool__(self) -> bool:
        return bool(self.entries)

