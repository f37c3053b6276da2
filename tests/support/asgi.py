"""An in-process request answered the way a real server's client sees it.

httpx's ASGITransport returns once the app has *returned*; a client of uvicorn has the answer as soon
as the app *sends* its last body chunk, while the app may still be working after it (a middleware's
``finally``). :func:`post_as_sent` returns at that moment, so a test can retry "immediately after the
201" as a real client would; with ``send_returns_after`` the app's last ``send`` returns only once that
event is set (a write that returns late: the client acts on the answer before the app goes on).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.types import ASGIApp, Message


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def app_of(client: httpx.AsyncClient) -> ASGIApp:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport), "an in-process client (tests.support.inprocess)"
    app: ASGIApp = transport.app
    return app


async def post_as_sent(client: httpx.AsyncClient, path: str, *, json_body: Any, headers: dict[str, str],
                       send_returns_after: asyncio.Event | None = None) -> tuple[Answer, asyncio.Task[None]]:
    """POST through ``client``'s app; the answer once its last body chunk is sent, and the app's task
    (still running, perhaps: await it before the test ends)."""
    body = json.dumps(json_body).encode()
    merged = {**dict(client.headers), "content-type": "application/json", "content-length": str(len(body)),
              **headers}
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in merged.items()],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }
    received = False
    answered: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
    status, response_headers, chunks = 0, {}, []
    disconnected = asyncio.Event()

    async def receive() -> Message:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            response_headers.update({k.decode("latin-1"): v.decode("latin-1") for k, v in message["headers"]})
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body") and not answered.done():
                answered.set_result(Answer(status, response_headers, b"".join(chunks)))
                if send_returns_after is not None:
                    await send_returns_after.wait()

    async def run() -> None:
        try:
            await app_of(client)(scope, receive, send)
        finally:
            disconnected.set()
            if not answered.done():
                answered.set_exception(AssertionError("the app returned without a complete answer"))

    task = asyncio.create_task(run())
    return await answered, task
