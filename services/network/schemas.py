"""Request and response bodies of the network API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from shared.events.types import CountryCode, OrganizationKind, OrganizationStatus

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class OrganizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[Text, Field(max_length=200, description="Unique per country, case-insensitive.")]
    name_zh: Annotated[Text, Field(max_length=100)] | None = None
    country: CountryCode
    kind: OrganizationKind
    city: Annotated[Text, Field(max_length=100)] | None = None
    website: Annotated[AnyHttpUrl, Field(max_length=300)] | None = None
    contact_email: Annotated[EmailStr, Field(max_length=254,
                                             description="Never shown in the public directory.")] | None = None


class Organization(BaseModel):
    """The public directory entry (no contact e-mail)."""

    id: str
    name: str
    name_zh: str | None
    country: str
    kind: OrganizationKind
    city: str | None
    website: str | None
    status: OrganizationStatus
    joined_at: datetime


class OrganizationStatusOut(BaseModel):
    id: str
    status: OrganizationStatus
