"""Graceful shutdown (SIGTERM): not-ready first, then stop accepting, finish in flight, drain, close.

The order, for each service of the process:

1. the first SIGTERM/SIGINT turns ``/readyz`` 503 (``service_ready`` 0) while the service still answers,
   for ``CONFERENCE_SHUTDOWN_DRAIN_SECONDS``, so a load balancer stops sending it new work;
2. uvicorn closes the listening socket and lets in-flight requests finish (at most
   ``CONFERENCE_SHUTDOWN_TIMEOUT_SECONDS``);
3. the lifespan ends: the outbox relay publishes what is committed, consumers finish the batch in
   hand and commit its offsets, then the database pools close (see ``shared.http.app``).

A second signal forces the exit. The process exits 0 after a graceful shutdown.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any

import uvicorn
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from shared.http.limits import connection_cap
from shared.settings import PlatformSettings


class ShutdownSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONFERENCE_SHUTDOWN_", extra="ignore")

    # How long /readyz answers 503 before the listener closes (a load balancer's probe period).
    drain_seconds: float = Field(default=2.0, ge=0)
    # The bound on each later step: in-flight requests, then the relay and the consumers.
    timeout_seconds: float = Field(default=20.0, gt=0)


def server_config(app: Any, *, host: str, port: int, platform: PlatformSettings,
                  shutdown: ShutdownSettings) -> uvicorn.Config:
    """uvicorn's configuration for one service, with the connection limits of ``platform``
    (docs/operations.md, "Limits"): concurrency, keep-alive, header size; the body's size and read
    timeout are enforced by ``shared.http.limits``, uvicorn having no body or header read timeout."""
    return uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, log_config=None, lifespan="on",
        timeout_graceful_shutdown=round(shutdown.timeout_seconds),
        limit_concurrency=platform.max_concurrency,
        timeout_keep_alive=platform.keep_alive_timeout_seconds,
        h11_max_incomplete_event_size=platform.max_header_bytes, http=GuardedHTTPProtocol)


# The scope extension under which a GET's connection offers its :class:`ChunkWriter`.
CHUNK_WRITER = "conference.chunk_writer"


def http_chunk(body: bytes) -> bytes:
    """``body`` framed as one chunk of a chunked HTTP/1.1 response body."""
    return b"%x\r\n%b\r\n" % (len(body), body)


class ChunkWriter:
    """Writes a chunk of one streamed response straight to its connection, past the ASGI chain: a live
    page's fan-out makes one socket write per viewer instead of waking its task and passing five send
    wrappers (the wrappers act on ``http.response.start`` only). It refuses (False) whenever uvicorn's own
    ``send`` would have to wait or could not write the chunk — the response not started, not chunked or
    finished, the client gone, the connection's write buffer above its high-water mark — so the caller
    then sends through ASGI, which waits as it always does."""

    __slots__ = ("_cycle",)

    def __init__(self, cycle: Any) -> None:
        self._cycle = cycle  # uvicorn's httptools RequestResponseCycle of the response

    def write(self, chunk: bytes) -> bool:
        """Write ``chunk`` (framed by :func:`http_chunk`) if it can go out without waiting."""
        cycle = self._cycle
        if (cycle.disconnected or cycle.flow.write_paused or not cycle.response_started or cycle.response_complete
                or cycle.chunked_encoding is not True or cycle.transport.is_closing()):
            return False
        cycle.transport.write(chunk)
        return True


class GuardedHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol, closing at once a connection accepted beyond :func:`connection_cap`
    (counted over every server of the process): a flood of clients costs a descriptor for an instant
    and never takes the last ones, so ``/healthz``, the databases and the bus keep theirs."""

    open_connections = 0
    cap: int | None = connection_cap()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        GuardedHTTPProtocol.open_connections += 1
        self._counted = True
        if self.cap is not None and GuardedHTTPProtocol.open_connections > self.cap:
            transport.abort()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        # httptools' protocol (h11's has no such hook, and its GETs stream through ASGI alone).
        cycle = getattr(self, "cycle", None)
        if cycle is not None and cycle.scope is self.scope and self.scope.get("method") == "GET":
            self.scope.setdefault("extensions", {})[CHUNK_WRITER] = ChunkWriter(cycle)

    def connection_lost(self, exc: Exception | None) -> None:
        if getattr(self, "_counted", False):
            self._counted = False
            GuardedHTTPProtocol.open_connections -= 1
        super().connection_lost(exc)


class GracefulServer(uvicorn.Server):
    """A uvicorn server whose first signal starts draining (``on_drain``) before it stops accepting.

    ``install_signals=False`` leaves signal handling to the caller (``conference run`` runs four
    servers and calls :meth:`begin_shutdown` on each).
    """

    def __init__(self, config: uvicorn.Config, *, on_drain: Sequence[Callable[[], None]] = (),
                 drain_seconds: float = 0.0, install_signals: bool = True) -> None:
        super().__init__(config)
        self.on_drain = list(on_drain)
        self.drain_seconds = drain_seconds
        self.install_signals = install_signals
        self._drain_deadline: float | None = None

    def begin_shutdown(self) -> None:
        if self._drain_deadline is not None or self.should_exit:
            self.force_exit = True  # a second signal: stop waiting
            self.should_exit = True
            return
        self._drain_deadline = time.monotonic() + self.drain_seconds
        for callback in self.on_drain:
            callback()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not recorded in _captured_signals: uvicorn would re-raise it after a clean shutdown and the
        # default handler would turn a graceful exit into "killed by SIGTERM".
        self.begin_shutdown()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if self.install_signals:
            with super().capture_signals():
                yield
        else:
            yield

    async def on_tick(self, counter: int) -> bool:
        if self._drain_deadline is not None and time.monotonic() >= self._drain_deadline:
            self.should_exit = True
        return await super().on_tick(counter)
