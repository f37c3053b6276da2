"""Event type name -> payload model and topic: the v1 catalogue of DESIGN.md §3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from shared.events import network, projects, registration
from shared.topology import TOPICS


@dataclass(frozen=True)
class EventDefinition:
    service: str
    name: str
    version: int
    model: type[BaseModel]

    @property
    def type(self) -> str:
        return f"conference.{self.service}.{self.name}.v{self.version}"

    @property
    def topic(self) -> str:
        return TOPICS[self.service]

    def json_schema(self) -> dict[str, Any]:
        return self.model.model_json_schema(mode="serialization")


_DEFINITIONS = [
    EventDefinition("registration", "edition_opened", 1, registration.EditionOpened),
    EventDefinition("registration", "delegate_registered", 1, registration.DelegateRegistered),
    EventDefinition("registration", "delegate_updated", 1, registration.DelegateUpdated),
    EventDefinition("registration", "delegate_cancelled", 1, registration.DelegateCancelled),
    EventDefinition("registration", "delegate_checked_in", 1, registration.DelegateCheckedIn),
    EventDefinition("registration", "delegate_approved", 1, registration.DelegateApproved),
    EventDefinition("registration", "delegate_rejected", 1, registration.DelegateRejected),
    EventDefinition("registration", "delegate_erased", 1, registration.DelegateErased),
    EventDefinition("registration", "session_enrollment_changed", 1, registration.SessionEnrollmentChanged),
    EventDefinition("projects", "project_signed", 1, projects.ProjectSigned),
    EventDefinition("projects", "project_amended", 1, projects.ProjectAmended),
    EventDefinition("projects", "project_withdrawn", 1, projects.ProjectWithdrawn),
    EventDefinition("projects", "case_featured", 1, projects.CaseFeatured),
    EventDefinition("projects", "case_unfeatured", 1, projects.CaseUnfeatured),
    EventDefinition("network", "organization_joined", 1, network.OrganizationJoined),
    EventDefinition("network", "organization_updated", 1, network.OrganizationUpdated),
    EventDefinition("network", "organization_suspended", 1, network.OrganizationSuspended),
    EventDefinition("network", "organization_reinstated", 1, network.OrganizationReinstated),
    EventDefinition("network", "organization_left", 1, network.OrganizationLeft),
]

CATALOGUE: dict[str, EventDefinition] = {d.type: d for d in _DEFINITIONS}
_BY_MODEL: dict[type[BaseModel], EventDefinition] = {d.model: d for d in _DEFINITIONS}


def definition_for(event_type: str) -> EventDefinition | None:
    return CATALOGUE.get(event_type)


def definition_of_payload(model: type[BaseModel]) -> EventDefinition:
    try:
        return _BY_MODEL[model]
    except KeyError:
        raise LookupError(f"{model.__name__} is not in the event catalogue") from None


def topic_of(service: str) -> str:
    return TOPICS[service]
