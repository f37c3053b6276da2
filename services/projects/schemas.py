"""Request and response bodies of the projects API."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from services.projects.domain import MAX_AMOUNT_CNY, CaseStatus
from shared.events.types import CountryCode, Money, ProjectStatus, Sector
from shared.http.inputs import AmountInput, ConferenceDate, Identifier, MultiLine, RateInput, SingleLine

Text = SingleLine
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
    organization_id: Annotated[Identifier, Field(min_length=1, max_length=36,
                                          description="A network member taking part, if any.")] | None = None


Title = Annotated[Text, Field(max_length=300)]
Amount = Annotated[AmountInput, Field(gt=0, le=MAX_AMOUNT, description="Signed value in `currency`.")]
# At most 8 decimals: the rate is stored exactly (NUMERIC(18, 8)) and the product is rounded once.
FxRate = Annotated[RateInput, Field(gt=0, le=Decimal(100000), max_digits=18, decimal_places=8,
                                    allow_inf_nan=False,
                                    description="Yuan per unit of `currency` as a string (up to 8 decimals); "
                                                "required unless the currency is CNY.")]
Parties = Annotated[list[Party], Field(min_length=1, max_length=50)]
EditionId = Annotated[Identifier, Field(min_length=1, max_length=36)]


class ProjectCreate(_Request):
    edition_id: EditionId
    title: Title
    sector: Sector
    amount: Amount
    currency: Currency = "CNY"
    fx_rate_to_cny: FxRate | None = Field(default=None, validate_default=True)
    parties: Parties
    signed_on: ConferenceDate | None = None

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


class ProjectAmend(_Request):
    """The fields an amendment changes; those left out keep their value. ``parties`` replaces the list."""

    title: Title | None = None
    sector: Sector | None = None
    amount: Amount | None = None
    currency: Currency | None = None
    fx_rate_to_cny: FxRate | None = Field(default=None, description="Yuan per unit of the (new) currency; "
                                          "needed when the currency changes to one other than CNY.")
    parties: Parties | None = None
    signed_on: ConferenceDate | None = None

    @model_validator(mode="after")
    def _something_to_amend(self) -> ProjectAmend:
        if not self.model_fields_set:
            raise ValueError("name at least one field to amend: title, sector, amount, currency, "
                             "fx_rate_to_cny, parties, signed_on")
        # `null` for a field that always has a value would silently mean "unchanged"; refuse it.
        for name in ("title", "sector", "amount", "currency", "parties"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null; leave it out to keep the current value")
        return self


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
    amended_at: datetime | None = None
    parties: list[PartyOut]


class ProjectWithdrawnOut(BaseModel):
    id: str
    status: ProjectStatus


class CaseCreate(_Request):
    edition_id: EditionId
    rank: Annotated[int, Field(ge=1, le=10, strict=True, description="1..10, unique per edition among "
                                                                     "featured cases.")]
    title: Title
    sector: Sector
    enterprise: Annotated[Text, Field(max_length=200)]
    country: CountryCode
    summary: Annotated[MultiLine, Field(max_length=4000, description="May span lines.")]
    project_id: Annotated[Identifier, Field(min_length=1, max_length=36,
                                     description="A signed project of the same edition.")] | None = None


class Case(BaseModel):
    id: str
    edition_id: str
    rank: int
    title: str
    sector: Sector
    enterprise: str
    country: str
    summary: str
    project_id: str | None
    status: CaseStatus
    created_at: datetime
    unfeatured_at: datetime | None


class CaseStatusOut(BaseModel):
    id: str
    status: CaseStatus
