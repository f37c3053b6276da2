"""The event envelope and catalogue (pure logic)."""

import json
from datetime import date

import pytest

from shared.events import CATALOGUE, InvalidEvent, new_event, parse_event
from shared.events.registration import DelegateRegistered, EditionOpened
from shared.events.types import DelegateCategory, DelegateStatus, Host


def test_an_event_round_trips_through_its_bytes() -> None:
    payload = DelegateRegistered(delegate_id="d1", edition_id="e1", country="my",
                                 category=DelegateCategory.guest, status=DelegateStatus.registered)
    event = new_event(payload, subject="d1", correlation_id="req-1")
    envelope, parsed = parse_event(event.to_bytes())
    assert envelope.type == "conference.registration.delegate_registered.v1"
    assert envelope.source == "/registration" and envelope.subject == "d1" and envelope.correlationid == "req-1"
    assert parsed == payload and parsed.country == "MY"


def test_no_personal_data_field_exists_in_any_event() -> None:
    for definition in CATALOGUE.values():
        fields = json.dumps(definition.json_schema())
        for personal in ("email", "phone", "passport", "full_name"):
            assert personal not in fields, f"{definition.type} exposes {personal}"


@pytest.mark.parametrize("raw", [
    b"not json",
    b'{"specversion": "1.0"}',
    json.dumps({"specversion": "1.0", "id": "1", "source": "/x", "type": "conference.x.unknown.v1",
                "subject": "s", "time": "2025-07-30T00:00:00Z", "data": {}}).encode(),
    json.dumps({"specversion": "1.0", "id": "1", "source": "/registration",
                "type": "conference.registration.edition_opened.v1", "subject": "s",
                "time": "2025-07-30T00:00:00Z", "data": {"edition_id": "e"}}).encode(),
])
def test_poison_messages_are_rejected_with_a_reason(raw: bytes) -> None:
    with pytest.raises(InvalidEvent):
        parse_event(raw)


def test_every_type_follows_the_naming_convention() -> None:
    for event_type, definition in CATALOGUE.items():
        assert event_type == f"conference.{definition.service}.{definition.name}.v{definition.version}"
    opened = EditionOpened(edition_id="e", number=1, year=2025, host=Host.chongqing,
                           starts_on=date(2025, 7, 30), ends_on=date(2025, 7, 31))
    assert new_event(opened, subject="e").type in CATALOGUE
