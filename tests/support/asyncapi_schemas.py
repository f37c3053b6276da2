"""The JSON Schemas of docs/asyncapi.yaml as a third-party validator (jsonschema) applies them: a message's
payload (envelope and data) or its Kafka headers, with the document's ``$ref``s resolved in the document."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"
_BASE = "urn:conference:asyncapi"  # the document's own refs ("#/components/…") resolve inside it


def load_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text())
    return document


def message_validator(document: dict[str, Any], event_type: str,
                      part: Literal["payload", "headers"] = "payload") -> Draft7Validator:
    """A validator of ``part`` of the message ``event_type`` (AsyncAPI 3.0 schemas are a JSON Schema
    draft 7 superset; the document uses none of the additions)."""
    registry: Registry[Any] = Registry().with_resource(_BASE, Resource.from_contents(document, DRAFT7))
    schema = {"$ref": f"{_BASE}#/components/messages/{event_type}/{part}"}
    return Draft7Validator(schema, registry=registry, format_checker=Draft7Validator.FORMAT_CHECKER)


def violations(validator: Draft7Validator, instance: Any) -> list[str]:
    """Every way ``instance`` breaks the schema, readably (empty: it conforms)."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in validator.iter_errors(instance)]
