"""Fakes for unit tests of use cases: an in-memory unit of work that records what it would commit.

Each service's fake unit of work (``tests/support/fakes/<service>.py``) adds in-memory repositories.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from pydantic import BaseModel

from shared.events import CloudEvent, new_event


class FakeUnitOfWork:
    """Implements ``shared.messaging.outbox.UnitOfWorkPort``: events land in ``committed_events`` only
    when the use case commits; leaving the block without a commit drops them (a rollback)."""

    def __init__(self) -> None:
        self.events: list[CloudEvent] = []
        self.committed_events: list[CloudEvent] = []
        self.committed_payloads: list[BaseModel] = []  # the same events as models (what consumers get)
        self._payloads: list[BaseModel] = []
        self.commits = 0

    async def __aenter__(self) -> Self:
        self.events, self._payloads = [], []
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.events, self._payloads = [], []

    def emit(self, payload: BaseModel, *, subject: str) -> CloudEvent:
        event = new_event(payload, subject=subject)
        self.events.append(event)
        self._payloads.append(payload)
        return event

    async def commit(self) -> None:
        self.committed_events.extend(self.events)
        self.committed_payloads.extend(self._payloads)
        self.events, self._payloads = [], []
        self.commits += 1
