"""The one retry loop of the relay, the consumers and topic creation: it keeps the work running until
told to stop, whether the work failed or merely returned (a relay that lost its leadership connection)."""

from __future__ import annotations

import asyncio

import pytest

from shared.messaging.supervise import Backoff, supervise


async def test_work_that_returns_runs_again_until_stopping() -> None:
    runs = 0

    async def lead(_: Backoff) -> None:
        nonlocal runs
        runs += 1  # returns at once, as a relay does when its leadership connection drops

    await asyncio.wait_for(supervise(lead, name="relay", stopping=lambda: runs >= 3), timeout=5)
    assert runs == 3


async def test_a_failure_is_reported_and_the_work_restarted() -> None:
    errors: list[Exception] = []
    done = False

    async def flaky(_: Backoff) -> None:
        nonlocal done
        if not errors:
            raise ConnectionError("broker unreachable")
        done = True

    await asyncio.wait_for(supervise(flaky, name="consumer", stopping=lambda: done, on_error=errors.append),
                           timeout=5)
    assert done and [str(e) for e in errors] == ["broker unreachable"]


async def test_nothing_runs_when_already_stopping() -> None:
    async def never(_: Backoff) -> None:
        raise AssertionError("work ran although the loop was stopping")

    await supervise(never, name="relay", stopping=lambda: True)


async def test_cancellation_stops_the_loop() -> None:
    async def forever(_: Backoff) -> None:
        await asyncio.sleep(3600)

    task = asyncio.create_task(supervise(forever, name="consumer", stopping=lambda: False))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_the_pause_doubles_up_to_its_maximum_and_resets_once_connected() -> None:
    backoff = Backoff(initial=0.2, maximum=1.0)
    assert [backoff.next() for _ in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    backoff.reset()
    assert backoff.next() == 0.2
