"""Many live-page viewers on one dashboard, from their own process (so the server's memory is its own).

    python -m bench.viewers --port 8000 --count 10000

Opens ``--count`` ``GET /stream`` connections to 127.0.0.1 (at most ``--connecting`` at a time), each a
bare asyncio protocol that only notes when a frame (``event: totals``) arrives. Prints one JSON line
when they are open (``held``, ``refused`` by status, ``failed``), then answers commands on stdin, one
JSON line each:

* ``mark <t>``: ``t`` is a ``time.monotonic()`` of the controller (the same clock: CLOCK_MONOTONIC);
  waits until every held viewer has received a frame after ``t`` (at most ``--wait`` seconds) and prints
  the milliseconds from ``t`` to each viewer's frame (``latencies_ms``) and how many got none (``missed``);
* ``quit``, or the end of stdin: closes every connection and exits.

It stops by itself after ``--deadline`` seconds whatever happens, and talks to loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from typing import cast

import uvloop

FRAME = b"event: totals"


class ViewerProtocol(asyncio.Protocol):
    """One viewer: the status of its answer and when its latest frame arrived."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.status: int | None = None
        self.last_frame = 0.0
        self.closed = asyncio.get_running_loop().create_future()
        self.answered = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport subclass
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.status is None:
            try:
                self.status = int(data.split(b" ", 2)[1])
            except (IndexError, ValueError):
                self.status = 0
            if not self.answered.done():
                self.answered.set_result(self.status)
        if FRAME in self._tail + data[:len(FRAME)] or FRAME in data:
            self.last_frame = time.monotonic()
        self._tail = data[-len(FRAME):]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answered.done():
            self.answered.set_result(None)
        if not self.closed.done():
            self.closed.set_result(None)


async def open_viewers(port: int, count: int, connecting: int, timeout: float) -> tuple[list[ViewerProtocol],
                                                                                         dict[str, int]]:
    loop = asyncio.get_running_loop()
    request = b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
    gate = asyncio.Semaphore(connecting)
    outcome: dict[str, int] = {}

    async def one() -> ViewerProtocol | None:
        async with gate:
            try:
                _, protocol = await asyncio.wait_for(
                    loop.create_connection(lambda: ViewerProtocol(request), "127.0.0.1", port), timeout)
                status = await asyncio.wait_for(protocol.answered, timeout)
            except (OSError, TimeoutError):
                status = None
                protocol = None
        key = "failed" if status is None else str(status)
        outcome[key] = outcome.get(key, 0) + 1
        if status == 200 and protocol is not None:
            return protocol
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
        return None

    opened = await asyncio.gather(*(one() for _ in range(count)))
    return [p for p in opened if p is not None], outcome


async def wait_for_frames(viewers: list[ViewerProtocol], mark: float, wait: float) -> dict[str, object]:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and any(v.last_frame <= mark for v in viewers if not v.closed.done()):
        await asyncio.sleep(0.01)  # the client's own poll; the server is not waited on
    latencies = [(v.last_frame - mark) * 1000 for v in viewers if v.last_frame > mark]
    return {"latencies_ms": latencies, "missed": len(viewers) - len(latencies),
            "open": sum(not v.closed.done() for v in viewers)}


async def serve(args: argparse.Namespace) -> None:
    viewers, outcome = await open_viewers(args.port, args.count, args.connecting, args.timeout)
    print(json.dumps({"held": len(viewers), "outcome": outcome}), flush=True)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    try:
        while line := (await stdin.readline()).decode().split():
            if line[0] == "mark":
                print(json.dumps(await wait_for_frames(viewers, float(line[1]), args.wait)), flush=True)
            elif line[0] == "quit":
                break
    finally:
        for v in viewers:
            if v.transport is not None:
                v.transport.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--connecting", type=int, default=256, help="connections being opened at once")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds for one connection to be answered")
    parser.add_argument("--wait", type=float, default=10.0, help="seconds to wait for a frame after a mark")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds after which the process exits")
    args = parser.parse_args()
    raise_open_file_limit(args.count + 256)

    async def bounded() -> None:
        await asyncio.wait_for(serve(args), args.deadline)

    uvloop.run(bounded())  # the client has to keep up with 10,000 sockets: the same loop as the server


def raise_open_file_limit(needed: int) -> int:
    """Raise the soft ``RLIMIT_NOFILE`` towards ``needed`` (never above the hard limit); the result."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


if __name__ == "__main__":
    main()
