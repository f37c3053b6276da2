"""examples/consumer.py, the integrators' example, against the real Kafka broker: it reads recorded
events from the beginning, skips a redelivered one by its id, and resumes after its committed offset."""

from __future__ import annotations

import json
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


def run_example(bootstrap: str, topic: str, group: str, state: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "consumer.py"), "--bootstrap", bootstrap, "--group", group,
         "--topic", topic, "--state", str(state), "--idle-exit", "3"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


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
