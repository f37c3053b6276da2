"""In-memory repositories and unit of work of the network service, for unit tests of its use cases."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from services.network.domain import Organization, OrganizationNotFound, SignedProject, normalize_name
from services.network.repository import duplicate
from shared.db.pagination import decode_cursor, encode_cursor
from shared.events.types import OrganizationKind, OrganizationStatus
from shared.stats import NetworkFigures
from tests.support.fakes import FakeUnitOfWork


class FakeOrganizationRepository:
    def __init__(self, *members: Organization) -> None:
        self.rows: dict[str, Organization] = {m.id: m for m in members}
        self.saved: list[Organization] = []  # every add and save, in order (what a test sees written)

    async def get(self, organization_id: str) -> Organization:
        try:
            return self.rows[organization_id]
        except KeyError:
            raise OrganizationNotFound(f"no organisation with id {organization_id}") from None

    async def lock(self, organization_id: str) -> Organization:
        return await self.get(organization_id)

    async def check_name_free(self, *, name: str, country: str, except_id: str | None) -> None:
        self._refuse_duplicate(name=name, country=country, except_id=except_id)

    def _refuse_duplicate(self, *, name: str, country: str, except_id: str | None) -> None:
        # What the partial unique index says: one current member per country and folded name.
        for other in self.rows.values():
            if (other.id != except_id and other.country == country and other.status != OrganizationStatus.left
                    and other.name_normalized == normalize_name(name)):
                raise duplicate(name, country)

    async def add(self, organization: Organization) -> None:
        self._refuse_duplicate(name=organization.name, country=organization.country, except_id=None)
        self.rows[organization.id] = organization
        self.saved.append(organization)

    async def save(self, organization: Organization) -> None:
        self.rows[organization.id] = organization
        self.saved.append(organization)

    async def page(self, *, country: str | None, kind: OrganizationKind | None, status: OrganizationStatus | None,
                   limit: int, cursor: str | None) -> tuple[list[Organization], str | None]:
        after = decode_cursor(cursor)
        members = [m for _, m in sorted(self.rows.items())
                   if (not country or m.country == country) and (not kind or m.kind == kind)
                   and (not status or m.status == status) and (not after or m.id > after)]
        next_cursor = encode_cursor(members[limit - 1].id) if len(members) > limit else None
        return members[:limit], next_cursor

    async def figures(self) -> NetworkFigures:
        active = [m for m in self.rows.values() if m.status == OrganizationStatus.active]
        return NetworkFigures(organizations=len(active), countries=len({m.country for m in active}))


class FakeSignedProjectRepository:
    def __init__(self, *projects: SignedProject) -> None:
        self.rows: dict[tuple[str, str], SignedProject] = {(p.organization_id, p.project_id): p for p in projects}

    async def of_member(self, organization_id: str) -> list[SignedProject]:
        return sorted((p for p in self.rows.values() if p.organization_id == organization_id),
                      key=lambda p: (p.edition_id, p.project_id))

    async def replace_parties(self, project_id: str, parties: list[SignedProject]) -> None:
        self.rows = {key: p for key, p in self.rows.items() if p.project_id != project_id}
        self.rows.update({(p.organization_id, p.project_id): p for p in parties})


class FakeNetworkUnitOfWork(FakeUnitOfWork):
    """Repositories keep what a committed use case wrote; a block left without commit leaves them as before."""

    def __init__(self, organizations: FakeOrganizationRepository | None = None,
                 signed_projects: FakeSignedProjectRepository | None = None) -> None:
        super().__init__()
        self.organizations = organizations or FakeOrganizationRepository()
        self.signed_projects = signed_projects or FakeSignedProjectRepository()
        self._before: tuple[dict[str, Organization], dict[tuple[str, str], SignedProject]] | None = None

    async def __aenter__(self) -> Self:
        self._before = dict(self.organizations.rows), dict(self.signed_projects.rows)
        return await super().__aenter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._before is not None:  # not committed: roll back
            self.organizations.rows, self.signed_projects.rows = self._before
            self._before = None
        await super().__aexit__(exc_type, exc, tb)

    async def commit(self) -> None:
        await super().commit()
        self._before = None
