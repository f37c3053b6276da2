"""Request and response bodies of the registration API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from shared.events.types import CountryCode, DelegateCategory, DelegateStatus, Host

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EditionCreate(_Request):
    year: int = Field(ge=2000, le=2100, description="Calendar year of the edition.")
    host: Host | None = Field(default=None, description="Omit to let the Sichuan–Chongqing rotation pick it.")
    city: Annotated[Text, Field(max_length=100)] | None = None
    theme: Annotated[Text, Field(max_length=300)] | None = None
    starts_on: date
    ends_on: date


class Edition(BaseModel):
    id: str
    number: int = Field(description="1 for the first edition, then in order.")
    year: int
    host: Host
    city: str | None
    theme: str | None
    starts_on: date
    ends_on: date


class NextEdition(BaseModel):
    number: int
    host: Host


class DelegateCreate(_Request):
    edition_id: Annotated[str, Field(min_length=1, max_length=36)]
    full_name: Annotated[Text, Field(max_length=200)]
    name_zh: Annotated[Text, Field(max_length=100)] | None = None
    country: CountryCode
    city: Annotated[Text, Field(max_length=100)] | None = None
    organization: Annotated[Text, Field(max_length=200)] | None = None
    email: Annotated[EmailStr, Field(max_length=254, description="Unique per edition, case-insensitive.")]
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{5,30}$")] | None = None
    category: DelegateCategory


class Delegate(BaseModel):
    id: str
    edition_id: str
    full_name: str
    name_zh: str | None
    country: str
    city: str | None
    organization: str | None
    category: DelegateCategory
    status: DelegateStatus
    registered_at: datetime
    email: str | None = Field(default=None, description="Shown to the registrar and admin roles only.")
    phone: str | None = Field(default=None, description="Shown to the registrar and admin roles only.")
    badge_code: str | None = Field(default=None, description="QR payload; registrar and admin only.")


class DelegateCancelledOut(BaseModel):
    id: str
    status: DelegateStatus
