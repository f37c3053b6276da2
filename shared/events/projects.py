"""Events published by the projects service on ``conference.projects``.

Project events carry the project's countable state after the change: edition, sector, status,
``amount_cny`` (a decimal string, exact to the fen) and the distinct countries of its parties.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.events.types import CountryCode, Money, ProjectStatus, Sector


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ProjectState(_Payload):
    project_id: str
    edition_id: str
    sector: Sector
    status: ProjectStatus
    amount_cny: Money
    currency: str = Field(min_length=3, max_length=3)
    countries: list[CountryCode] = Field(description="Distinct countries among the parties.")
    organization_ids: list[str] = Field(default_factory=list,
                                        description="Network members among the parties.")
    # Optional (added after v1 was first published, so events written before it stay readable): lets
    # the network service show what each member signed without asking the projects service.
    title: str | None = Field(default=None, description="The project's title (public).")


class ProjectPrevious(_Payload):
    sector: Sector
    status: ProjectStatus
    amount_cny: Money
    countries: list[CountryCode]
    organization_ids: list[str] = Field(default_factory=list)


class ProjectSigned(ProjectState):
    pass


class ProjectAmended(ProjectState):
    previous: ProjectPrevious


class ProjectWithdrawn(ProjectState):
    previous: ProjectPrevious


class CaseFeatured(_Payload):
    case_id: str
    edition_id: str
    rank: int = Field(ge=1, le=10)
    title: str
    sector: Sector
    enterprise: str
    country: CountryCode
    project_id: str | None = None


class CaseUnfeatured(_Payload):
    case_id: str
    edition_id: str
    rank: int = Field(ge=1, le=10)
