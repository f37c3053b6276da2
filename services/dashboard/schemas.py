"""Response bodies of the dashboard API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from shared.events.types import Money
from shared.stats import DelegateFigures, NetworkFigures, ProjectFigures


class Totals(BaseModel):
    """The three inner objects have exactly the shape of the services' ``/stats``."""

    delegates: DelegateFigures
    projects: ProjectFigures
    network: NetworkFigures
    updated_at: datetime | None = Field(description="When an event last changed a figure.")


class CountryRow(BaseModel):
    country: str = Field(description="ISO 3166-1 alpha-2.")
    delegates: int = Field(description="Registered delegates (not cancelled).")
    checked_in: int
    organizations: int = Field(description="Active network members.")
    projects: int = Field(description="Signed projects with a party from this country.")
    amount_cny: Money = Field(description="Full value of those projects (a project counts for each of "
                                          "its countries, so rows do not add up to the total).")


class Countries(BaseModel):
    items: list[CountryRow]


class EditionRow(BaseModel):
    edition_id: str
    number: int
    year: int
    host: str
    city: str | None
    theme: str | None
    starts_on: str = Field(description="ISO date.")
    ends_on: str | None = Field(default=None, description="ISO date of the last day (null until a rebuild for "
                                "editions read before it was kept).")


class CaseRow(BaseModel):
    case_id: str
    rank: int = Field(ge=1, le=10)
    title: str
    sector: str
    enterprise: str
    country: str


class Overview(BaseModel):
    """What the live page shows: the current edition's figures, its countries and Top-10 cases."""

    edition: EditionRow | None = Field(description="The latest edition that has started (else the first).")
    next_edition: EditionRow | None
    totals: Totals
    countries: list[CountryRow]
    cases: list[CaseRow]


class TimelineBucket(BaseModel):
    start: datetime = Field(description="Start of the bucket, in conference time (UTC+08:00).")
    registered: int = Field(description="Registrations made in the bucket that still stand (approved, not "
                                        "cancelled).")
    checked_in: int = Field(description="Badges scanned in the bucket.")


class Timeline(BaseModel):
    """Registrations and check-ins over time, from the read model."""

    edition_id: str | None = Field(description="The edition, or null: every edition's buckets summed.")
    span: str = Field(description="`day` (while delegates register) or `10min` (on the conference days).")
    time_zone: str = Field(description="The offset the buckets start in (the conference's: China's).")
    buckets: list[TimelineBucket] = Field(description="Buckets with a figure, oldest first (empty ones left out).")
