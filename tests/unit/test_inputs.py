"""The strict request values of shared.http.inputs (pure logic): text, amounts, rates, dates."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from services.registration import domain as registration
from shared.http.inputs import (
    AmountInput,
    ConferenceDate,
    ConferenceDateTime,
    Identifier,
    MultiLine,
    RateInput,
    SingleLine,
)

SINGLE = TypeAdapter(SingleLine)
MULTI = TypeAdapter(MultiLine)
IDENT = TypeAdapter(Identifier)
AMOUNT = TypeAdapter(AmountInput)
RATE = TypeAdapter(RateInput)

# Strings a person cannot see or that a database cannot hold: every free-text field refuses them.
CONTROL = ["nul\u0000", "\u0000", "a\u0001b", "bell\u0007", "esc\u001b[31m", "del\u007f", "c1\u0085", "x\u009f",
           "trail\u001f", "\u001cleading"]
INVISIBLE = ["", " ", "   \u00a0 ", "\u200b", "\u200b\u200c\u200d", "\ufeff", "\u2060", "\u00ad", "\u3164",
             "\u2800", "\u2028", "\u202e\u202c", "\u3000"]


@pytest.mark.parametrize("value", [*CONTROL, "line\nbreak", "tab\there", "cr\r"])
def test_a_single_line_refuses_control_characters(value: str) -> None:
    with pytest.raises(ValidationError, match=r"control character|at least 1"):
        SINGLE.validate_python(value)


@pytest.mark.parametrize("value", INVISIBLE)
def test_text_of_only_invisible_characters_is_refused(value: str) -> None:
    for adapter in (SINGLE, MULTI, IDENT):
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


@pytest.mark.parametrize(("value", "kept"), [
    ("  Chongqing  ", "Chongqing"), ("重庆", "重庆"), ("Zoë\u00a0Müller", "Zoë\u00a0Müller"),
    ("👩\u200d💻 guild", "👩\u200d💻 guild"), ("Ḱ̶", "Ḱ̶"), ("مرحبا\u200f", "مرحبا\u200f"),
])
def test_visible_text_is_kept_trimmed(value: str, kept: str) -> None:
    assert SINGLE.validate_python(value) == kept


def test_a_multi_line_text_keeps_its_line_breaks_but_no_other_control() -> None:
    assert MULTI.validate_python(" First line.\r\n\tSecond line.\n") == "First line.\r\n\tSecond line."
    for value in CONTROL:
        with pytest.raises(ValidationError, match="control character"):
            MULTI.validate_python(value)
    with pytest.raises(ValidationError):
        MULTI.validate_python("\n\n\t")


def test_an_identifier_is_kept_as_sent_without_control() -> None:
    assert IDENT.validate_python("6f1c-edition") == "6f1c-edition"
    for value in ("\u0000", "id\u0000", "id\u0007"):
        with pytest.raises(ValidationError):
            IDENT.validate_python(value)


@pytest.mark.parametrize("value", ["12.345", "1.005", "0.004", "1_000", " 5 ", "5 ", "+5", "1e3", "1E-2", "0x10",
                                   "1.", ".5", "", "12,50", "١٢", "NaN", "Infinity", "-", "1.2.3", "9" * 21])
def test_amounts_are_plain_strings_with_at_most_two_decimals(value: str) -> None:
    with pytest.raises(ValidationError, match=r"is not an amount|must be"):
        AMOUNT.validate_json(f'"{value}"')


@pytest.mark.parametrize("raw", ["5", "12.34", "1e3", "true", "null", "[1]", '{"v": "1"}'])
def test_an_amount_is_never_a_json_number(raw: str) -> None:
    with pytest.raises(ValidationError):
        AMOUNT.validate_json(raw)
    if raw in ("5", "12.34"):
        with pytest.raises(ValidationError, match="not a number"):
            AMOUNT.validate_json(raw)


@pytest.mark.parametrize(("value", "exact"), [("100", "100.00"), ("12.5", "12.50"), ("0.01", "0.01"),
                                              ("43790000000.00", "43790000000.00"), ("-1.00", "-1.00")])
def test_valid_amounts_are_exact_to_the_fen(value: str, exact: str) -> None:
    amount = AMOUNT.validate_json(f'"{value}"')
    assert amount == Decimal(exact) and str(amount) == exact


def test_an_amount_from_python_keeps_the_rule() -> None:
    assert AMOUNT.validate_python(Decimal("2.5")) == Decimal("2.50")
    with pytest.raises(ValidationError):
        AMOUNT.validate_python(Decimal("2.345"))


@pytest.mark.parametrize("raw", ["7.1", "1", "0.02500000", "7.12345678"])
def test_rates_are_strings_up_to_eight_decimals(raw: str) -> None:
    assert RATE.validate_json(f'"{raw}"') == Decimal(raw)


@pytest.mark.parametrize("raw", ["7.1", "7", "1e308"])
def test_a_rate_is_never_a_json_number(raw: str) -> None:
    with pytest.raises(ValidationError, match="not a number"):
        RATE.validate_json(raw)


@pytest.mark.parametrize("value", ["7.123456789", " 7.1", "7_1", "1e-30", "-7.1", "7,1"])
def test_malformed_rates_are_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        RATE.validate_json(f'"{value}"')


@pytest.mark.parametrize("value", ["1999-12-31", "2101-01-01", "0001-01-01", "9999-12-31"])
def test_dates_outside_the_conference_years_are_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="outside the years"):
        TypeAdapter(ConferenceDate).validate_python(value)


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+05:00", "1999-12-31T23:00:00Z", "9999-12-31T23:59:59-05:00",
                                   "2101-01-01T00:00:00Z"])
def test_datetimes_outside_the_conference_years_are_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="outside the years"):
        TypeAdapter(ConferenceDateTime).validate_python(value)


def test_dates_within_the_conference_years_are_kept() -> None:
    assert TypeAdapter(ConferenceDate).validate_python("2025-07-30") == date(2025, 7, 30)
    moment = TypeAdapter(ConferenceDateTime).validate_python("2025-07-30T09:00:00+08:00")
    assert isinstance(moment, datetime) and moment.utcoffset() is not None


@pytest.mark.parametrize(("starts_on", "ends_on", "ok"), [
    ("2025-07-30", "2025-07-31", True),
    ("2025-12-20", "2026-01-20", True),       # 31 days, across the new year
    ("2025-12-20", "2026-01-21", False),      # 32 days
    ("2025-07-30", "2099-07-31", False),
])
def test_an_edition_lasts_at_most_a_month(starts_on: str, ends_on: str, ok: bool) -> None:
    args: dict[str, Any] = {"year": 2025, "starts_on": date.fromisoformat(starts_on),
                            "ends_on": date.fromisoformat(ends_on)}
    if ok:
        registration.check_edition_dates(**args)
    else:
        with pytest.raises(registration.InvalidEditionDates, match="at most"):
            registration.check_edition_dates(**args)
