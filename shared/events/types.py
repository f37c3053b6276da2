"""Value types shared by the payloads and the HTTP schemas of several services."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated

import pycountry
from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema

TWO_PLACES = Decimal("0.01")
# Every event carries a country: a set lookup, not pycountry's per-call index search (a rebuild validates millions).
_ALPHA_2 = frozenset(country.alpha_2 for country in pycountry.countries)


def _country_code(value: str) -> str:
    code = value.strip().upper() if isinstance(value, str) else value
    if not isinstance(code, str) or code not in _ALPHA_2:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code (e.g. CN, MY, DE)")
    return code


CountryCode = Annotated[
    str,
    AfterValidator(_country_code),
    WithJsonSchema({"type": "string", "pattern": "^[A-Z]{2}$", "examples": ["CN"],
                    "description": "ISO 3166-1 alpha-2 country code, upper case."}),
]


def _money(value: object) -> Decimal:
    if isinstance(value, float):
        raise ValueError("money must be a decimal string such as \"1250000.00\", not a float")
    if isinstance(value, bool):
        raise ValueError("money must be a decimal string")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a decimal amount") from exc
    if not amount.is_finite():
        raise ValueError("money must be a finite amount")
    try:
        return amount.quantize(TWO_PLACES, rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:  # more digits than the context holds (e.g. "1e30"): not an amount
        raise ValueError(f"{value!r} is too large an amount") from exc


def money_str(value: Decimal) -> str:
    return f"{value.quantize(TWO_PLACES, rounding=ROUND_HALF_UP):f}"


Money = Annotated[
    Decimal,
    BeforeValidator(_money),
    PlainSerializer(money_str, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+\.\d{2}$", "examples": ["43790000000.00"],
                    "description": "Decimal amount with two places, as a string."}),
]


class Sector(StrEnum):
    green_energy = "green_energy"
    digital_economy = "digital_economy"
    energy = "energy"
    manufacturing = "manufacturing"
    infrastructure = "infrastructure"
    trade_logistics = "trade_logistics"
    agriculture = "agriculture"
    finance = "finance"
    healthcare = "healthcare"
    culture_tourism = "culture_tourism"
    social_livelihood = "social_livelihood"
    other = "other"


class DelegateStatus(StrEnum):
    pending = "pending"  # registered themselves with an invitation; waits for a registrar's approval
    registered = "registered"
    checked_in = "checked_in"
    cancelled = "cancelled"
    rejected = "rejected"  # a pending self-registration a registrar turned down


class DelegateCategory(StrEnum):
    representative = "representative"
    guest = "guest"
    official = "official"
    media = "media"


class ProjectStatus(StrEnum):
    signed = "signed"
    withdrawn = "withdrawn"


class OrganizationStatus(StrEnum):
    active = "active"
    suspended = "suspended"
    left = "left"


class OrganizationKind(StrEnum):
    chamber_of_commerce = "chamber_of_commerce"
    business_association = "business_association"
    hometown_association = "hometown_association"
    professional_association = "professional_association"
    other = "other"


class Host(StrEnum):
    chongqing = "Chongqing"
    sichuan = "Sichuan"
