"""Request and response bodies of the projects API."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import pycountry
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from services.projects.domain import MAX_AMOUNT_CNY
from shared.events.types import CountryCode, Money, ProjectStatus, Sector

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
MAX_AMOUNT = MAX_AMOUNT_CNY


def _currency(code: str) -> str:
    code = code.upper()
    if pycountry.currencies.get(alpha_3=code) is None:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code (e.g. CNY, USD, EUR)")
    return code


Currency = Annotated[str, StringConstraints(min_length=3, max_length=3), AfterValidator(_currency)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Party(_Request):
    name: Annotated[Text, Field(max_length=200)]
    country: CountryCode
    organization_id: Annotated[str, Field(min_length=1, max_length=36,
                                          description="A network member taking part, if any.")] | None = None


class ProjectCreate(_Request):
    edition_id: Annotated[str, Field(min_length=1, max_length=36)]
    title: Annotated[Text, Field(max_length=300)]
    sector: Sector
    amount: Annotated[Money, Field(gt=0, le=MAX_AMOUNT, description="Signed value in `currency`.")]
    currency: Currency = "CNY"
    fx_rate_to_cny: Annotated[Decimal, Field(gt=0, le=Decimal(100000), max_digits=18, decimal_places=8,
                                             description="Yuan per unit of `currency`; required "
                                                         "unless the currency is CNY.")] | None = Field(
        default=None, validate_default=True)
    parties: Annotated[list[Party], Field(min_length=1, max_length=50)]
    signed_on: date | None = None

    # A field validator (not a model one) so that the 422 names `fx_rate_to_cny` in its field errors.
    @field_validator("fx_rate_to_cny")
    @classmethod
    def _rate_matches_currency(cls, rate: Decimal | None, info: ValidationInfo) -> Decimal | None:
        currency = info.data.get("currency")
        if currency is None:  # the currency itself is invalid and reported as such
            return rate
        if currency != "CNY" and rate is None:
            raise ValueError(f"fx_rate_to_cny is required for an amount in {currency}")
        if currency == "CNY" and rate not in (None, Decimal(1)):
            raise ValueError("fx_rate_to_cny must be omitted (or 1) for an amount in CNY")
        return rate


class PartyOut(BaseModel):
    name: str
    country: str
    organization_id: str | None


class Project(BaseModel):
    id: str
    edition_id: str
    title: str
    sector: Sector
    amount: Money
    currency: str
    fx_rate_to_cny: Decimal | None
    amount_cny: Money = Field(description="Value in yuan, exact to the fen.")
    status: ProjectStatus
    signed_on: date | None
    created_at: datetime
    parties: list[PartyOut]


class ProjectWithdrawnOut(BaseModel):
    id: str
    status: ProjectStatus
