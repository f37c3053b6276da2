"""examples/consumer.py, the integrators' example, against the real Kafka broker: it reads recorded
events from the beginning, skips a redelivered one by its id, resumes after its committed offset, and
stops cleanly on Ctrl-C (SIGINT) or SIGTERM with its summary."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devkit import stack
from shared.messaging.bus import OutgoingMessage
from shared.messaging.bus.kafka import KafkaBus

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures" / "events"


def example(bootstrap: str, topic: str, group: str, state: Path) -> list[str]:
    return [sys.executable, str(ROOT / "examples" / "consumer.py"), "--bootstrap", bootstrap, "--group", group,
            "--topic", topic, "--state", str(state)]


def events_and_summary(stdout: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The event lines and the closing ``{"summary": …}`` line, which must come last."""
    *events, last = [json.loads(line) for line in stdout.splitlines()]
    assert set(last) == {"summary"} and all("summary" not in line for line in events), stdout
    summary: dict[str, Any] = last["summary"]
    assert summary["applied"] == sum(not line["duplicate"] for line in events)
    return events, summary


def run_example(bootstrap: str, topic: str, group: str, state: Path) -> list[dict[str, Any]]:
    result = subprocess.run([*example(bootstrap, topic, group, state), "--idle-exit", "3"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return events_and_summary(result.stdout)[0]


async def test_the_example_consumer_dedupes_and_resumes(kafka_env: dict[str, str], tmp_path: Path) -> None:
    bootstrap = stack.kafka_bootstrap(kafka_env)
    prefix = stack.topic_prefix()
    topic = f"{prefix}conference.registration"
    bus = KafkaBus(bootstrap)
    await bus.ensure_topics([topic])
    events = [(FIXTURES / f"conference.registration.{name}.v1.json").read_bytes()
              for name in ("edition_opened", "delegate_registered", "delegate_checked_in")]
    producer = bus.producer()
    await producer.start()
    try:
        messages = [OutgoingMessage(topic, json.loads(raw)["subject"], raw) for raw in events]
        await producer.publish([*messages, messages[1]])  # the registration is delivered twice
        first = run_example(bootstrap, topic, f"{prefix}example", tmp_path / "state.db")
        assert [line["duplicate"] for line in first if line["type"].endswith("delegate_registered.v1")] == [False, True]
        assert sum(not line["duplicate"] for line in first) == 3

        later = (FIXTURES / "conference.registration.delegate_updated.v1.json").read_bytes()
        await producer.publish([OutgoingMessage(topic, json.loads(later)["subject"], later)])
        second = run_example(bootstrap, topic, f"{prefix}example", tmp_path / "state.db")
        assert [line["type"] for line in second] == ["conference.registration.delegate_updated.v1"]
    finally:
        await producer.stop()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
async def test_the_example_consumer_stops_cleanly_on_a_signal(kafka_env: dict[str, str], tmp_path: Path,
                                                              stop: signal.Signals) -> None:
    bootstrap = stack.kafka_bootstrap(kafka_env)
    prefix = stack.topic_prefix()
    topic = f"{prefix}conference.registration.signals"
    bus = KafkaBus(bootstrap)
    await bus.ensure_topics([topic])
    raw = (FIXTURES / "conference.registration.delegate_registered.v1.json").read_bytes()
    producer = bus.producer()
    await producer.start()
    try:
        await producer.publish([OutgoingMessage(topic, json.loads(raw)["subject"], raw)])
    finally:
        await producer.stop()

    # No --idle-exit: it would run forever without the signal.
    proc = await asyncio.create_subprocess_exec(
        *example(bootstrap, topic, f"{prefix}example-{stop.name}", tmp_path / "state.db"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        # Consuming for real, past start-up: the event's line is out (the bound only stops a hung run).
        first = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
        assert json.loads(first)["type"] == "conference.registration.delegate_registered.v1"
        proc.send_signal(stop)
        rest, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr, stderr.decode()
    _, summary = events_and_summary(first.decode() + rest.decode())
    assert summary == {"applied": 1, "registered_by_country": {json.loads(raw)["data"]["country"]: 1}}
