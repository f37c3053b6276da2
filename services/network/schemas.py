"""Request and response bodies of the network API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, EmailStr, Field, model_validator

from shared.events.types import CountryCode, Money, OrganizationKind, OrganizationStatus, ProjectStatus, Sector
from shared.http.inputs import SingleLine

Text = SingleLine
Name = Annotated[Text, Field(max_length=200, description="Unique per country, case-insensitive.")]
NameZh = Annotated[Text, Field(max_length=100)]
City = Annotated[Text, Field(max_length=100)]
Website = Annotated[AnyHttpUrl, Field(max_length=300)]
ContactEmail = Annotated[EmailStr, Field(max_length=254, description="Never shown in the public directory.")]


class OrganizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    name_zh: NameZh | None = None
    country: CountryCode
    kind: OrganizationKind
    city: City | None = None
    website: Website | None = None
    contact_email: ContactEmail | None = None


class OrganizationUpdate(BaseModel):
    """The fields to change; those left out keep their value. ``null`` clears an optional field."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    name_zh: NameZh | None = None
    country: CountryCode | None = None
    kind: OrganizationKind | None = None
    city: City | None = None
    website: Website | None = None
    contact_email: ContactEmail | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> OrganizationUpdate:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change: name, name_zh, country, kind, city, website, "
                             "contact_email")
        for required in ("name", "country", "kind"):
            if required in self.model_fields_set and getattr(self, required) is None:
                raise ValueError(f"{required} cannot be null; leave it out to keep the current value")
        return self


class Organization(BaseModel):
    """A directory entry. ``contact_email`` is present only for `network` and `admin` tokens."""

    id: str
    name: str
    name_zh: str | None
    country: str
    kind: OrganizationKind
    city: str | None
    website: str | None
    status: OrganizationStatus
    joined_at: datetime
    contact_email: str | None = Field(default=None, description="Only for `network` and `admin` tokens.")


class SignedProject(BaseModel):
    project_id: str
    edition_id: str
    title: str | None
    sector: Sector
    amount_cny: Money
    status: ProjectStatus


class OrganizationDetail(Organization):
    projects: list[SignedProject] = Field(description="Projects the member is a party to (withdrawn ones "
                                                      "included, with their status).")
    signed_amount_cny: Money = Field(description="Total yuan value of its projects still signed.")


class OrganizationStatusOut(BaseModel):
    id: str
    status: OrganizationStatus
