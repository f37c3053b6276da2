"""HTTP clients that misbehave on purpose: uploads that stop partway, readers that stop reading.

:func:`upload` talks HTTP/1.1 over a raw socket so that a test controls exactly how much of a body is
sent; :class:`SlowReader` calls an ASGI app as a client that takes no response bytes until released.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message

MiB = 1024 * 1024


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int  # body bytes the client had written when the answer arrived

    def json(self) -> Any:
        return json.loads(self.body)


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status_line, *lines = head.strip().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


async def upload(port: int, path: str, *, headers: dict[str, str], declared: int | None, send_at_most: int,
                 chunk: int = 64 * 1024, bound: float = 20.0) -> Answer:
    """POST ``path``: ``Content-Length: declared`` (chunked when None), then up to ``send_at_most`` body
    bytes, stopping as soon as the server answers. Raises when no answer comes within ``bound`` seconds
    of the last write (the server is waiting for the rest of the body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             *(f"{k}: {v}" for k, v in headers.items()),
             "Transfer-Encoding: chunked" if declared is None else f"Content-Length: {declared}"]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    answer = asyncio.create_task(_read_answer(reader))
    sent = 0
    try:
        piece = b"x" * chunk
        while sent < send_at_most and not answer.done():
            writer.write(piece if declared is not None else b"%x\r\n%s\r\n" % (len(piece), piece))
            drained = asyncio.ensure_future(writer.drain())
            done, _ = await asyncio.wait({drained, answer}, timeout=bound, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                drained.cancel()
                raise AssertionError(f"the server neither read nor answered within {bound}s ({sent} bytes sent)")
            if drained not in done or drained.exception() is not None:
                drained.cancel()
                break  # the server stopped reading (it answered, or closed the connection)
            sent += len(piece)
        status, answer_headers, body = await asyncio.wait_for(answer, bound)
        return Answer(status=status, headers=answer_headers, body=body, sent=sent)
    except TimeoutError:
        raise AssertionError(f"no answer within {bound}s after {sent} body bytes: the server waits for "
                             "the whole body") from None
    finally:
        answer.cancel()
        writer.close()


@dataclass
class SlowReader:
    """A GET to an ASGI app by a client that takes the response head, then no body bytes until
    :attr:`release` is set (``send`` blocks, as it does when a real client's socket buffer is full)."""

    app: ASGIApp
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    query: str = ""
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    first_body: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    _requested: bool = False

    def start(self) -> asyncio.Task[None]:
        async def call(scope: Any) -> None:
            await self.app(scope, self._receive, self._send)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": self.path, "raw_path": self.path.encode(),
                 "query_string": self.query.encode(), "root_path": "",
                 "headers": [(k.lower().encode(), v.encode()) for k, v in {"host": "test", **self.headers}.items()],
                 "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}
        return asyncio.create_task(call(scope))

    async def _receive(self) -> Message:
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.disconnected.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.response_headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
            self.started.set()
        elif message["type"] == "http.response.body":
            if message.get("body"):
                self.first_body.set()
                await self.release.wait()
            self.body += message.get("body", b"")
