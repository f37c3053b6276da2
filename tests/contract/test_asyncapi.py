"""The event contract for integrators: the committed AsyncAPI document is what the code generates,
it describes every topic and event type, and recorded events of every type still read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.events import CATALOGUE, parse_event
from shared.events.asyncapi import build_document, render
from shared.events.envelope import CloudEvent
from shared.topology import TOPICS
from tests.support.asyncapi_schemas import load_document, message_validator, violations

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.yaml"
FIXTURES = Path(__file__).parent / "fixtures" / "events"
REGENERATE = "regenerate it: `conference asyncapi > docs/asyncapi.yaml` (and review the diff: is it compatible?)"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document()


def test_the_committed_document_is_the_generated_one() -> None:
    assert COMMITTED.read_text() == render(), f"docs/asyncapi.yaml drifted from the event catalogue; {REGENERATE}"


def test_the_command_prints_it() -> None:
    result = subprocess.run([sys.executable, "-m", "services.cli", "asyncapi"], capture_output=True, text=True,
                            timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout == COMMITTED.read_text()
    as_json = subprocess.run([sys.executable, "-m", "services.cli", "asyncapi", "--format", "json"],
                             capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert json.loads(as_json.stdout) == yaml.safe_load(result.stdout)


def test_the_yaml_reads_back_as_the_document(document: dict[str, Any]) -> None:
    assert yaml.safe_load(COMMITTED.read_text()) == json.loads(json.dumps(document))


def test_channels_are_the_topics_and_messages_the_event_types(document: dict[str, Any]) -> None:
    assert document["asyncapi"] == "3.0.0"
    channels = document["channels"]
    assert {c["address"] for c in channels.values() if "{group}" not in c["address"]} == set(TOPICS.values())
    assert {c["address"] for c in channels.values() if "{group}" in c["address"]} == {
        f"{t}.dlq.{{group}}" for t in TOPICS.values()}
    messages = document["components"]["messages"]
    assert set(CATALOGUE) <= set(messages)
    for event_type, definition in CATALOGUE.items():
        message = messages[event_type]
        channel = channels[definition.service]
        assert {"$ref": f"#/components/messages/{event_type}"} in channel["messages"].values()
        envelope, specific = message["payload"]["allOf"]
        assert envelope == {"$ref": "#/components/schemas/CloudEvent"}
        assert specific["properties"]["type"] == {"const": event_type}
        assert message["bindings"]["kafka"]["key"]["type"] == "string"  # the key is the subject
        assert message["contentType"] == "application/cloudevents+json"
    for operation in document["operations"].values():
        assert operation["action"] == "send"
        channel_id = operation["channel"]["$ref"].rsplit("/", 1)[1]
        for ref in operation["messages"]:
            assert ref["$ref"].startswith(f"#/channels/{channel_id}/messages/")


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    def resolve(ref: str) -> Any:
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        return node

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                assert resolve(node["$ref"]) is not None, node["$ref"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(document)
    assert "$defs" not in json.dumps(document), "a nested schema was not hoisted to components"


def test_the_envelope_schema_is_cloudevents(document: dict[str, Any]) -> None:
    envelope = document["components"]["schemas"]["CloudEvent"]
    assert {"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data"} <= set(
        envelope["required"])
    assert envelope["properties"]["specversion"]["const"] == "1.0"
    assert envelope["properties"]["datacontenttype"]["const"] == "application/json"
    assert "correlationid" in envelope["properties"]
    assert set(envelope["properties"]) >= set(CloudEvent.model_fields)


# -- compatibility: recorded events of every type still read -----------------------------------------


def fixtures() -> list[Path]:
    return sorted(FIXTURES.glob("*.json"))


def test_there_is_a_recorded_sample_of_every_event_type() -> None:
    recorded = {path.name.removesuffix(".json") for path in fixtures()}
    assert set(CATALOGUE) <= recorded, (
        f"record a sample of each new type in {FIXTURES.relative_to(ROOT)}: {sorted(set(CATALOGUE) - recorded)}")


@pytest.mark.parametrize("path", fixtures(), ids=lambda p: p.name.removesuffix(".json"))
def test_a_recorded_event_still_reads_with_the_current_models(path: Path) -> None:
    raw = path.read_bytes()
    recorded = json.loads(raw)
    envelope, payload = parse_event(raw)  # raises InvalidEvent: a change would break existing consumers
    assert envelope.type == recorded["type"] == path.name.removesuffix(".json")
    assert envelope.id == recorded["id"] and envelope.subject == recorded["subject"]
    assert envelope.correlationid == recorded["correlationid"]
    # Nothing a recorded event carried is dropped or changed by the current model (a consumer may rely
    # on it); fields added since may only be optional, so the comparison is on the recorded ones.
    _assert_keeps(payload.model_dump(mode="json"), recorded["data"], path.name)


@pytest.mark.parametrize("path", fixtures(), ids=lambda p: p.name.removesuffix(".json"))
def test_a_recorded_event_conforms_to_the_documented_schemas(path: Path) -> None:
    """What an integrator's validator (jsonschema) says of the recorded events, on the committed document."""
    recorded = json.loads(path.read_bytes())
    validator = message_validator(load_document(), recorded["type"])
    assert violations(validator, recorded) == [], path.name


@pytest.mark.parametrize(("change", "expected"), [
    ({"specversion": None}, "(root): 'specversion' is a required property"),
    ({"specversion": "0.3"}, "specversion: '1.0' was expected"),
    ({"datacontenttype": None}, "(root): 'datacontenttype' is a required property"),
    ({"datacontenttype": "text/plain"}, "datacontenttype: 'application/json' was expected"),
    ({"type": "conference.registration.delegate_updated.v1"},
     "type: 'conference.registration.delegate_registered.v1' was expected"),
], ids=["no-specversion", "specversion-0.3", "no-datacontenttype", "text-datacontenttype", "other-type"])
def test_the_documented_schemas_refuse_what_the_platform_never_writes(change: dict[str, Any], expected: str) -> None:
    recorded = json.loads((FIXTURES / "conference.registration.delegate_registered.v1.json").read_bytes())
    changed = {k: v for k, v in {**recorded, **change}.items() if v is not None}
    validator = message_validator(load_document(), recorded["type"])
    assert expected in violations(validator, changed)


def _assert_keeps(current: Any, recorded: Any, where: str) -> None:
    if isinstance(recorded, dict) and isinstance(current, dict):
        for field, value in recorded.items():
            assert field in current, f"{where}: field {field!r} is gone from the model"
            _assert_keeps(current[field], value, f"{where}.{field}")
    else:
        assert current == recorded, f"{where} now reads as {current!r}, was {recorded!r}"
