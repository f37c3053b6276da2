"""PostgreSQL ``LISTEN`` on a connection of its own: other processes on the same database say "something
changed" (a ``NOTIFY`` sent at their commit, usually from a trigger) and this one reacts at once instead of
polling. SQLAlchemy's pools are for queries; a listening connection is held for the process's lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg
from sqlalchemy.engine import URL, make_url

log = logging.getLogger(__name__)
RECONNECT_SECONDS = 1.0


def asyncpg_dsn(url: str | URL) -> str:
    """The asyncpg form of a SQLAlchemy PostgreSQL URL (``postgresql+asyncpg://`` → ``postgresql://``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def listen_forever(url: str | URL, channel: str, on_notify: Callable[[], None]) -> None:
    """Call ``on_notify`` on every notification of ``channel``, and once each time listening (re)starts: a
    change committed while the connection was down is not missed. Reconnects when the server goes away."""
    while True:
        try:
            await _listen_until_lost(url, channel, on_notify)
            log.warning("lost the connection listening on %s; reconnecting", channel)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("cannot listen on %s: %r; retrying", channel, exc)
        await asyncio.sleep(RECONNECT_SECONDS)


async def _listen_until_lost(url: str | URL, channel: str, on_notify: Callable[[], None]) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=5)
    lost = asyncio.Event()
    try:
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(channel, lambda *_: on_notify())
        on_notify()
        await lost.wait()
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), timeout=2)
        if not conn.is_closed():
            conn.terminate()
