"""AsyncAPI 3.0 document of the event contract, generated from the catalogue (``conference asyncapi``).

Channels are the topics (one per producing service, keyed by the event's ``subject``), messages are
the event types with the JSON Schema of their payloads inside the CloudEvents envelope, and the
dead-letter topics are described too. ``docs/asyncapi.yaml`` is this module's output, committed; a
test fails when the two drift apart.

The YAML is written by a small emitter of our own (the document is plain dicts, lists and scalars),
so the command needs no YAML library at run time.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic.json_schema import models_json_schema

from shared.events.catalogue import CATALOGUE, EventDefinition
from shared.events.envelope import CONTENT_TYPE, DATA_CONTENT_TYPE, SPECVERSION, TYPE_HEADER, CloudEvent
from shared.topology import TOPICS

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
SCHEMA_REF = "#/components/schemas/{model}"

_SUBJECTS = {
    "registration": "the edition, delegate or session id",
    "projects": "the project or case id",
    "network": "the organisation id",
}


def build_document(*, partitions: int = 4) -> dict[str, Any]:
    definitions = sorted(CATALOGUE.values(), key=lambda d: list(TOPICS).index(d.service))  # stable: catalogue order
    _, top = models_json_schema([(d.model, "serialization") for d in definitions], ref_template=SCHEMA_REF)
    schemas: dict[str, Any] = {"CloudEvent": _envelope_schema()}
    schemas.update(dict(sorted(top.get("$defs", {}).items())))

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for service, topic in TOPICS.items():
        own = [d for d in definitions if d.service == service]
        channel_messages = {_message_key(d): {"$ref": f"#/components/messages/{d.type}"} for d in own}
        channels[service] = {
            "address": topic,
            "title": f"{service.capitalize()} events",
            "description": (
                f"Every event the {service} service publishes, in the order its transactions committed "
                f"them per key. Kafka key = the event's `subject` ({_SUBJECTS[service]}), so all events of "
                f"one aggregate are in one partition, in order. Retention is unlimited: a new consumer "
                f"group reading from the earliest offset sees the whole history."),
            "messages": channel_messages,
            "bindings": {"kafka": {
                "topic": topic, "partitions": partitions, "replicas": 1,
                "topicConfiguration": {"retention.ms": -1, "cleanup.policy": ["delete"]},
                "bindingVersion": KAFKA_BINDING_VERSION}},
        }
        channels[f"{service}DeadLetters"] = {
            "address": f"{topic}.dlq.{{group}}",
            "title": f"Dead letters of {topic}",
            "description": (
                f"Messages of `{topic}` that consumer group `{{group}}` could not apply (not a valid event "
                "of this catalogue, or a handler that kept failing), byte for byte, with the reason in the "
                "`dlq-reason` header. The consumer moved on past them."),
            "parameters": {"group": {"description": "The consumer group that gave up on the message."}},
            "messages": {"deadLetter": {"$ref": "#/components/messages/DeadLetter"}},
        }
        operations[f"publish{service.capitalize()}Events"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{service}"},
            "title": f"The {service} service publishes its events",
            "summary": "Published through a transactional outbox: at least once, in order per key.",
            "messages": [{"$ref": f"#/channels/{service}/messages/{key}"} for key in channel_messages],
        }
        for definition in own:
            messages[definition.type] = _message(definition)
    messages["DeadLetter"] = {
        "name": "dead_letter",
        "title": "Dead letter",
        "summary": "The original message, unchanged, with why it was set aside.",
        "headers": {"type": "object", "properties": {
            "dlq-reason": {"type": "string", "description": "Why the message could not be applied."},
            "dlq-consumer-group": {"type": "string"},
            "dlq-original-topic": {"type": "string"},
            "dlq-original-partition": {"type": "string", "description": "Decimal partition number."},
            "dlq-original-offset": {"type": "string", "description": "Decimal offset in that partition."},
        }, "required": ["dlq-reason", "dlq-consumer-group", "dlq-original-topic"]},
        "payload": {"description": "The original message value, which may not be valid JSON."},
        "bindings": {"kafka": {"key": {"type": "string", "description": "The original key."},
                               "bindingVersion": KAFKA_BINDING_VERSION}},
    }

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Belt and Road Overseas Chinese Cooperation & Development Conference — events",
            "version": "1.0.0",
            "description": (
                "The events the conference platform publishes, for integrators. Every message is a "
                "CloudEvents 1.0 envelope in structured JSON mode whose `data` is the payload of its "
                "`type`. Delivery is at least once: deduplicate by the envelope `id`. A breaking change "
                "is a new `.vN` type; existing types stay readable. Payloads carry what is needed to count "
                "(country, status, edition, sector, amounts) and nothing personal. See docs/integrators.md."),
            "license": {"name": "Proprietary"},
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "kafka": {
                "host": "localhost:9092",
                "protocol": "kafka",
                # docker-compose.yml's host listener and deploy/local/kafka.sh's address (test_deploy checks).
                "description": ("The platform's Apache Kafka cluster (`CONFERENCE_KAFKA_BOOTSTRAP`): on the host of "
                                "`docker compose up` or `deploy/local/kafka.sh` it is localhost:9092 (inside the "
                                "Compose network the services use kafka:19092). Topic and group names may carry a "
                                "deployment prefix (`CONFERENCE_TOPIC_PREFIX`)."),
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": schemas,
            "correlationIds": {"requestId": {
                "description": "The id of the HTTP request that caused the event (its `X-Request-ID`).",
                "location": "$message.payload#/correlationid"}},
        },
    }


def _message_key(definition: EventDefinition) -> str:
    return f"{definition.name}_v{definition.version}"


def _message(definition: EventDefinition) -> dict[str, Any]:
    model_doc = (definition.model.__doc__ or "").strip()
    title = definition.name.replace("_", " ").capitalize()
    return {
        "name": definition.type,
        "title": f"{title} (v{definition.version})",
        "summary": model_doc or f"`{definition.name}` on `{definition.topic}`.",
        "contentType": CONTENT_TYPE,
        "correlationId": {"$ref": "#/components/correlationIds/requestId"},
        "headers": {"type": "object", "required": ["content-type", TYPE_HEADER], "properties": {
            "content-type": {"type": "string", "const": CONTENT_TYPE,
                             "description": "Structured mode: the whole event is the record value."},
            TYPE_HEADER: {"type": "string", "const": definition.type,
                          "description": "The envelope's `type`, to filter without parsing the value. No "
                                         "`ce_` header is set: in the CloudEvents Kafka binding those mean "
                                         "binary mode."},
        }},
        "payload": {"allOf": [
            {"$ref": "#/components/schemas/CloudEvent"},
            {"type": "object", "required": ["type", "source", "subject", "data"], "properties": {
                "type": {"const": definition.type},
                "source": {"const": f"/{definition.service}"},
                "subject": {"type": "string", "description": f"Aggregate id ({_SUBJECTS[definition.service]}); "
                                                             "also the Kafka key."},
                "data": {"$ref": SCHEMA_REF.format(model=definition.model.__name__)},
            }},
        ]},
        "bindings": {"kafka": {
            "key": {"type": "string", "description": "The envelope's `subject`."},
            "bindingVersion": KAFKA_BINDING_VERSION}},
    }


def _envelope_schema() -> dict[str, Any]:
    schema = CloudEvent.model_json_schema(mode="serialization")
    # The model gives these two defaults (the platform always writes them); on the wire they are fixed
    # and always present, so the document says so: an integrator's validator rejects anything else.
    properties = schema["properties"]
    for name, value in (("specversion", SPECVERSION), ("datacontenttype", DATA_CONTENT_TYPE)):
        properties[name].pop("default", None)
        properties[name]["const"] = value
    properties["specversion"]["description"] = "CloudEvents specification version; always `1.0`."
    properties["datacontenttype"]["description"] = "Media type of `data`; always `application/json`."
    required = {*schema["required"], "specversion", "datacontenttype"}
    schema["required"] = [name for name in properties if name in required]  # in the envelope's order
    schema["title"] = "CloudEvent"
    schema["description"] = ("CloudEvents 1.0, structured JSON mode (`application/cloudevents+json`). "
                             "`correlationid` is an extension attribute.")
    return schema


# -- YAML ----------------------------------------------------------------------------------------------

_PLAIN = re.compile(r"^[A-Za-z_/$][A-Za-z0-9_./$-]*( [A-Za-z0-9_./$()-]+)*$")
_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _RESERVED and not text.startswith("$"):
        return text
    return json.dumps(text, ensure_ascii=False)


def _yaml_lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            head = f"{pad}{_scalar(str(key))}:"
            if isinstance(item, dict | list) and item:
                lines.append(head)
                lines.extend(_yaml_lines(item, indent + 2))
            else:
                lines.append(f"{head} {_inline(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list) and item:
                block = _yaml_lines(item, indent + 2)
                block[0] = f"{pad}- {block[0][indent + 2:]}"
                lines.extend(block)
            else:
                lines.append(f"{pad}- {_inline(item)}")
    else:
        lines.append(f"{pad}{_scalar(value)}")
    return lines


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def to_yaml(document: dict[str, Any]) -> str:
    header = "# Generated by `conference asyncapi` from shared/events/catalogue.py — do not edit by hand.\n"
    return header + "\n".join(_yaml_lines(document, 0)) + "\n"


def render(*, fmt: str = "yaml") -> str:
    document = build_document()
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return to_yaml(document)
