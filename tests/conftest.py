"""Fixtures shared by every suite: the real PostgreSQL and Kafka started by deploy/local/*.sh."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time

import pytest

from devkit import stack

# The shared server and broker this run used, so that its databases and topics go at its end.
_used: dict[str, dict[str, str]] = {}


@pytest.fixture(scope="session")
def postgres_env() -> dict[str, str]:
    return _used.setdefault("postgres", stack.start_postgres())


@pytest.fixture(scope="session")
def kafka_env() -> dict[str, str]:
    return _used.setdefault("kafka", stack.start_kafka())


LINGERING_THREAD_GRACE_SECONDS = 10.0


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """A connection some test left open keeps a worker thread alive, and the interpreter
    would wait for it forever after the last test: name such threads and exit with the run's status
    instead of hanging CI."""
    deadline = time.monotonic() + LINGERING_THREAD_GRACE_SECONDS
    while True:
        lingering = [t for t in threading.enumerate()
                     if t is not threading.main_thread() and t.is_alive() and not t.daemon]
        if not lingering or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if lingering:
        names = ", ".join(t.name for t in lingering)
        print(f"\nwarning: {len(lingering)} non-daemon thread(s) left running after the tests: {names}; "
              "exiting without waiting for them", file=sys.stderr, flush=True)
        sys.stdout.flush()
        session = getattr(config, "_conference_session", None)
        os._exit(int(getattr(session, "exitstatus", 0)) if session is not None else 0)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config._conference_session = session  # type: ignore[attr-defined]
    if _used:
        try:
            removed = asyncio.run(stack.remove_run_leftovers(_used.get("postgres"), _used.get("kafka")))
            print(f"\nremoved this run's {removed}", file=sys.stderr)
        except Exception as exc:  # a failed clean-up is worth a warning, not a red run
            print(f"\nwarning: could not remove this run's databases and topics: {exc!r}", file=sys.stderr)
