"""One retry loop for every long-running piece of plumbing (outbox relay, consumers, topic creation).

The work runs again and again until ``stopping()`` is true: after it raises (the error is reported) and
also after it returns (a relay that lost its leadership connection returns, and must lead again), each
time after an exponential pause (0.2 s doubling to 5 s). The work calls ``backoff.reset()`` once it is
connected, so the next outage starts again from a short pause.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class Backoff:
    initial: float = 0.2
    maximum: float = 5.0
    current: float = 0.2

    def __post_init__(self) -> None:
        self.current = self.initial

    def reset(self) -> None:
        self.current = self.initial

    def next(self) -> float:
        """The pause to take now; the following one is twice as long, up to ``maximum``."""
        pause = self.current
        self.current = min(self.current * 2, self.maximum)
        return pause


async def supervise(work: Callable[[Backoff], Awaitable[None]], *, name: str, stopping: Callable[[], bool],
                    on_error: Callable[[Exception], None] | None = None) -> None:
    """Runs ``work`` until ``stopping()`` is true, restarting it whenever it returns or raises."""
    backoff = Backoff()
    while not stopping():
        try:
            await work(backoff)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if (task := asyncio.current_task()) is not None and task.cancelling():
                # Shutdown: the cancel surfaced as a driver error ("cannot rollback ..."); stop.
                raise asyncio.CancelledError from exc
            if on_error is not None:
                on_error(exc)
            else:
                log.warning("%s restarting after: %r", name, exc)
        if stopping():
            return
        await asyncio.sleep(backoff.next())
