"""Strict request values shared by the request schemas of every service.

What a client sends is checked here, the same on SQLite as on PostgreSQL, before any use case runs:

- **text**: no control character (Unicode category Cc; a multi-line field allows tab, line feed and
  carriage return), trimmed, and at least one visible character (not only white space, zero-width or
  other format characters, category Cf);
- **amounts and rates**: JSON strings of plain decimal digits, never JSON numbers, never rounded (an
  amount with more than two decimals is refused, not rounded to the fen);
- **dates**: within the years a conference can have (2000–2100).

Responses and events keep their own types (``shared.events.types.Money``): this module is input only.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, StringConstraints, WithJsonSchema

# -- text -----------------------------------------------------------------------------------------------------

MULTILINE_ALLOWED = frozenset("\t\n\r")
# Characters that render as nothing but are not white space or Cf: Hangul fillers, the braille blank.
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


def _control_character(value: str, allowed: frozenset[str]) -> str | None:
    for ch in value:
        if unicodedata.category(ch) == "Cc" and ch not in allowed:
            return ch
    return None


def _visible(value: str) -> bool:
    return any(not ch.isspace() and ch not in _BLANK_LOOKING and unicodedata.category(ch) not in _INVISIBLE_CATEGORIES
               for ch in value)


def _check_text(value: str, allowed: frozenset[str]) -> str:
    bad = _control_character(value, allowed)
    if bad is not None:
        where = "" if allowed else " (this field is a single line)"
        raise ValueError(f"contains the control character U+{ord(bad):04X}{where}; remove it")
    stripped = value.strip()
    if not _visible(stripped):
        raise ValueError("must contain at least one visible character (not only spaces, zero-width or "
                         "other invisible characters)")
    return stripped


def single_line(value: str) -> str:
    """A one-line text: no control character at all, trimmed, something visible."""
    return _check_text(value, frozenset())


def multi_line(value: str) -> str:
    """A text that may span lines: tab, LF and CR allowed, no other control character, something visible."""
    return _check_text(value, MULTILINE_ALLOWED)


def identifier(value: str) -> str:
    """A reference (an id, a badge code): no control character, nothing invisible-only; kept as sent."""
    if _control_character(value, frozenset()) is not None or not _visible(value):
        raise ValueError("is not an identifier: it holds control or only invisible characters")
    return value


SingleLine = Annotated[str, StringConstraints(min_length=1), AfterValidator(single_line)]
"""Names, titles, cities…: compose with ``Field(max_length=…)``."""
MultiLine = Annotated[str, StringConstraints(min_length=1), AfterValidator(multi_line)]
"""Summaries and other prose that may contain line breaks."""
Identifier = Annotated[str, StringConstraints(min_length=1), AfterValidator(identifier)]


# -- amounts and rates ----------------------------------------------------------------------------------------

AMOUNT_PATTERN = r"^-?[0-9]{1,20}(\.[0-9]{1,2})?$"
RATE_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,8})?$"
_AMOUNT = re.compile(AMOUNT_PATTERN)
_RATE = re.compile(RATE_PATTERN)
TWO_PLACES = Decimal("0.01")


def _decimal_string(value: object, pattern: re.Pattern[str], what: str, example: str, places: int) -> Decimal:
    if isinstance(value, Decimal):  # from Python (a use case, a test): the same rule on its places
        if not value.is_finite() or value.as_tuple().exponent < -places:  # type: ignore[operator]
            raise ValueError(f"{what} must have at most {places} decimals")
        return value
    if isinstance(value, bool | int | float):
        raise ValueError(f"{what} must be a JSON string such as \"{example}\", not a number "
                         "(numbers lose precision)")
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string such as \"{example}\"")
    if not pattern.fullmatch(value):
        raise ValueError(f"{value[:40]!r} is not {what}: digits with at most {places} decimals after a dot, "
                         f"such as \"{example}\" (no spaces, signs, exponents, separators or more decimals; "
                         "it is never rounded)")
    return Decimal(value)


def _amount(value: object) -> Decimal:
    return _decimal_string(value, _AMOUNT, "an amount", "1250000.00", 2).quantize(TWO_PLACES)


def _rate(value: object) -> Decimal:
    return _decimal_string(value, _RATE, "a rate", "7.1234", 8)


AmountInput = Annotated[
    Decimal,
    BeforeValidator(_amount),
    WithJsonSchema({"type": "string", "pattern": AMOUNT_PATTERN, "examples": ["1250000.00"],
                    "description": "Decimal amount as a string, at most two decimals (never rounded)."}),
]
"""A money amount in a request: a string with at most two decimals, exact (``shared.events.types.Money`` out)."""

RateInput = Annotated[
    Decimal,
    BeforeValidator(_rate),
    WithJsonSchema({"type": "string", "pattern": RATE_PATTERN, "examples": ["7.1234"],
                    "description": "Decimal rate as a string, at most eight decimals."}),
]


# -- dates ----------------------------------------------------------------------------------------------------

EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)


def _conference_date(value: date) -> date:
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"{value.isoformat()} is outside the years a conference can be in "
                         f"({EARLIEST.isoformat()} to {LATEST.isoformat()})")
    return value


def _conference_datetime(value: datetime) -> datetime:
    try:
        day = value.astimezone(UTC).date()
    except OverflowError as exc:  # e.g. 0001-01-01T00:00+05:00
        raise ValueError(f"{value.isoformat()} is outside the years a conference can be in") from exc
    _conference_date(day)
    return value


ConferenceDate = Annotated[date, AfterValidator(_conference_date)]
ConferenceDateTime = Annotated[AwareDatetime, AfterValidator(_conference_datetime)]
