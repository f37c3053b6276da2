"""Network use cases; each is one transaction that writes its events to the outbox."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from services.network import domain
from services.network.domain import Organization, SignedProject
from services.network.repository import NetworkUnitOfWork, OrganizationRepository, SignedProjectRepository
from services.network.schemas import OrganizationCreate, OrganizationUpdate
from shared.events.network import OrganizationState
from shared.events.types import OrganizationKind, OrganizationStatus
from shared.stats import NetworkFigures


@dataclass(frozen=True)
class MemberDetail:
    """A member with the projects it is a party to and the value of those still signed."""

    organization: Organization
    projects: list[SignedProject]
    signed_amount_cny: Decimal


class _Transition(Protocol):
    def __call__(self, organization: Organization, *, now: datetime) -> tuple[Organization, OrganizationState]: ...


def _text(value: object | None) -> str | None:
    return None if value is None else str(value)


async def join(*, uow: NetworkUnitOfWork, request: OrganizationCreate) -> Organization:
    entry = domain.DirectoryEntry(name=request.name, name_zh=request.name_zh, country=request.country,
                                  kind=request.kind, city=request.city, website=_text(request.website),
                                  contact_email=_text(request.contact_email))
    async with uow:
        await uow.organizations.check_name_free(name=entry.name, country=entry.country, except_id=None)
        member, joined = domain.join(organization_id=str(uuid.uuid4()), entry=entry, now=datetime.now(UTC))
        await uow.organizations.add(member)
        uow.emit(joined, subject=member.id)
        await uow.commit()
    return member


def _proposed(current: Organization, request: OrganizationUpdate) -> domain.DirectoryEntry:
    """The entry after the request: fields left out keep their value; name, country and kind are never null
    when given (the schema refuses it)."""
    given = request.model_fields_set
    return domain.DirectoryEntry(
        name=request.name if request.name is not None else current.name,
        name_zh=request.name_zh if "name_zh" in given else current.name_zh,
        country=request.country if request.country is not None else current.country,
        kind=request.kind if request.kind is not None else current.kind,
        city=request.city if "city" in given else current.city,
        website=_text(request.website) if "website" in given else current.website,
        contact_email=_text(request.contact_email) if "contact_email" in given else current.contact_email)


async def update(*, uow: NetworkUnitOfWork, organization_id: str, request: OrganizationUpdate) -> Organization:
    """Change directory fields; `organization_updated` (old and new) when name, country or kind change."""
    async with uow:
        current = await uow.organizations.lock(organization_id)
        changed, updated = domain.update(current, _proposed(current, request), now=datetime.now(UTC))
        if changed is current:
            return current  # nothing changes: no write, no event
        if (changed.name_normalized, changed.country) != (current.name_normalized, current.country):
            await uow.organizations.check_name_free(name=changed.name, country=changed.country,
                                                    except_id=organization_id)
        await uow.organizations.save(changed)
        if updated is not None:
            uow.emit(updated, subject=organization_id)
        await uow.commit()
    return changed


async def _transition(*, uow: NetworkUnitOfWork, organization_id: str,
                      rule: _Transition) -> Organization:
    async with uow:
        current = await uow.organizations.lock(organization_id)
        changed, event = rule(current, now=datetime.now(UTC))
        await uow.organizations.save(changed)
        uow.emit(event, subject=changed.id)
        await uow.commit()
    return changed


async def leave(*, uow: NetworkUnitOfWork, organization_id: str) -> Organization:
    return await _transition(uow=uow, organization_id=organization_id, rule=domain.leave)


async def suspend(*, uow: NetworkUnitOfWork, organization_id: str) -> Organization:
    return await _transition(uow=uow, organization_id=organization_id, rule=domain.suspend)


async def reinstate(*, uow: NetworkUnitOfWork, organization_id: str) -> Organization:
    return await _transition(uow=uow, organization_id=organization_id, rule=domain.reinstate)


async def get_organization(*, organizations: OrganizationRepository, signed_projects: SignedProjectRepository,
                           organization_id: str) -> MemberDetail:
    """The member and the projects it is a party to (as the projects topic told us)."""
    member = await organizations.get(organization_id)
    projects = await signed_projects.of_member(organization_id)
    total = domain.signed_amount((p.status, p.amount_cny) for p in projects)
    return MemberDetail(organization=member, projects=projects, signed_amount_cny=total)


async def list_organizations(*, organizations: OrganizationRepository, country: str | None,
                             kind: OrganizationKind | None, status: OrganizationStatus | None, limit: int,
                             cursor: str | None) -> tuple[list[Organization], str | None]:
    return await organizations.page(country=country, kind=kind, status=status, limit=limit, cursor=cursor)


async def network_figures(*, organizations: OrganizationRepository) -> NetworkFigures:
    return await organizations.figures()
