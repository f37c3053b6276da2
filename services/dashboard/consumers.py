"""Applies the three topics to the read model: remember each entity's state, move the counters."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel
from sqlalchemy import Row, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from services.dashboard import domain
from services.dashboard.models import (
    COUNTER_TABLES,
    editions,
    featured_cases,
    read_model_state,
    seen_delegates,
    seen_organizations,
    seen_projects,
)
from shared.db import bulk
from shared.db.statements import upsert_replacing
from shared.events import CloudEvent
from shared.events.network import OrganizationState
from shared.events.projects import CaseFeatured, CaseUnfeatured, ProjectState
from shared.events.registration import DelegateState, EditionOpened
from shared.events.types import DelegateStatus, OrganizationStatus, ProjectStatus
from shared.messaging.subscriptions import Subscriptions, subscribe

P = TypeVar("P", bound=BaseModel)
F = TypeVar("F")


def of_kind(payloads: list[BaseModel], *kinds: type[BaseModel]) -> list[BaseModel]:
    """The payloads that are instances of ``kinds``, in order.

    ``issubclass`` once per class present in the batch: ``isinstance`` on a pydantic model goes through
    ``ABCMeta`` and, per event and per kind, cost a rebuild more than a tenth of its time."""
    matching = {c for c in {type(p) for p in payloads} if issubclass(c, kinds)}
    return [p for p in payloads if type(p) in matching]


class EntityProjection(ABC, Generic[P, F]):
    """How one kind of entity is remembered (its ``seen_*`` table) and how its state moves the counters."""

    payload: type[P]
    table: Table
    key: str  # the entity's id column

    @abstractmethod
    def id_of(self, payload: P) -> str: ...

    @abstractmethod
    def facts_of_payload(self, payload: P) -> F: ...

    @abstractmethod
    def facts_of_row(self, row: Row[Any]) -> F: ...

    @abstractmethod
    def row_of(self, entity_id: str, facts: F) -> dict[str, Any]: ...

    @abstractmethod
    def contribution(self, facts: F | None) -> domain.Contribution: ...

    async def fold(self, conn: AsyncConnection, payloads: list[BaseModel], delta: domain.Contribution
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Add this kind's events, in order, to ``delta``; return the rows to store for the entities they
        changed: (those seen for the first time, those seen before).

        The last state seen of every entity in the batch is read at once; each event moves the counters
        by ``contribution(new) - contribution(old)``, so the same entity twice in a batch chains correctly.
        """
        mine = cast(list[P], of_kind(payloads, self.payload))
        ids = sorted({self.id_of(p) for p in mine})
        known: dict[str, F] = {r._mapping[self.key]: self.facts_of_row(r)
                               for r in await bulk.rows_by_key(conn, self.table, self.key, ids)}
        stored = known.keys() & ids
        changed: dict[str, F] = {}
        for payload in mine:
            entity_id, new = self.id_of(payload), self.facts_of_payload(payload)
            domain.accumulate(delta, domain.change(self.contribution(known.get(entity_id)), self.contribution(new)))
            known[entity_id] = changed[entity_id] = new
        first_seen = [self.row_of(i, f) for i, f in changed.items() if i not in stored]
        seen_before = [self.row_of(i, f) for i, f in changed.items() if i in stored]
        return first_seen, seen_before


class DelegateProjection(EntityProjection[DelegateState, domain.DelegateFacts]):
    payload = DelegateState
    table = seen_delegates
    key = "delegate_id"

    def id_of(self, payload: DelegateState) -> str:
        return payload.delegate_id

    def facts_of_payload(self, payload: DelegateState) -> domain.DelegateFacts:
        return domain.DelegateFacts(payload.edition_id, payload.country, payload.status, payload.registered_at,
                                    payload.checked_in_at)

    def facts_of_row(self, row: Row[Any]) -> domain.DelegateFacts:
        return domain.DelegateFacts(row.edition_id, row.country, DelegateStatus(row.status), row.registered_at,
                                    row.checked_in_at)

    def row_of(self, entity_id: str, facts: domain.DelegateFacts) -> dict[str, Any]:
        return {"delegate_id": entity_id, "edition_id": facts.edition_id, "country": facts.country,
                "status": facts.status.value, "registered_at": facts.registered_at,
                "checked_in_at": facts.checked_in_at}

    def contribution(self, facts: domain.DelegateFacts | None) -> domain.Contribution:
        return domain.delegate_contribution(facts)


class ProjectProjection(EntityProjection[ProjectState, domain.ProjectFacts]):
    payload = ProjectState
    table = seen_projects
    key = "project_id"

    def id_of(self, payload: ProjectState) -> str:
        return payload.project_id

    def facts_of_payload(self, payload: ProjectState) -> domain.ProjectFacts:
        return domain.ProjectFacts(payload.edition_id, payload.sector.value, payload.status, payload.amount_cny,
                                   tuple(sorted(set(payload.countries))))

    def facts_of_row(self, row: Row[Any]) -> domain.ProjectFacts:
        return domain.ProjectFacts(row.edition_id, row.sector, ProjectStatus(row.status),
                                   Decimal(row.amount_fen) / 100, tuple(c for c in row.countries.split(",") if c))

    def row_of(self, entity_id: str, facts: domain.ProjectFacts) -> dict[str, Any]:
        return {"project_id": entity_id, "edition_id": facts.edition_id, "sector": facts.sector,
                "status": facts.status.value, "amount_fen": int(facts.amount_cny * 100),
                "countries": ",".join(facts.countries)}

    def contribution(self, facts: domain.ProjectFacts | None) -> domain.Contribution:
        return domain.project_contribution(facts)


class OrganizationProjection(EntityProjection[OrganizationState, domain.OrganizationFacts]):
    payload = OrganizationState
    table = seen_organizations
    key = "organization_id"

    def id_of(self, payload: OrganizationState) -> str:
        return payload.organization_id

    def facts_of_payload(self, payload: OrganizationState) -> domain.OrganizationFacts:
        return domain.OrganizationFacts(payload.country, payload.status)

    def facts_of_row(self, row: Row[Any]) -> domain.OrganizationFacts:
        return domain.OrganizationFacts(row.country, OrganizationStatus(row.status))

    def row_of(self, entity_id: str, facts: domain.OrganizationFacts) -> dict[str, Any]:
        return {"organization_id": entity_id, "country": facts.country, "status": facts.status.value}

    def contribution(self, facts: domain.OrganizationFacts | None) -> domain.Contribution:
        return domain.organization_contribution(facts)


PROJECTIONS: tuple[EntityProjection[Any, Any], ...] = (
    DelegateProjection(), ProjectProjection(), OrganizationProjection())


def _edition_row(payload: EditionOpened) -> dict[str, Any]:
    return {"edition_id": payload.edition_id, "number": payload.number, "year": payload.year,
            "host": payload.host.value, "city": payload.city, "theme": payload.theme,
            "starts_on": payload.starts_on.isoformat(), "ends_on": payload.ends_on.isoformat()}


async def apply_events(conn: AsyncConnection, events: list[tuple[CloudEvent, BaseModel]]) -> None:
    """Apply new events, in order, with a handful of statements whatever their number.

    Each entity kind reads the last state of its entities in the batch at once and moves the counters
    in memory (``EntityProjection.fold``); then the entity rows, the counter deltas, editions and cases
    are written in bulk.
    """
    payloads = [payload for _, payload in events]
    delta: domain.Contribution = {}
    entity_rows = [(projection, await projection.fold(conn, payloads, delta)) for projection in PROJECTIONS]
    edition_rows = {p.edition_id: _edition_row(p) for p in of_kind(payloads, EditionOpened)
                    if isinstance(p, EditionOpened)}
    # In order: a case may be featured and unfeatured in one batch.
    case_changes = [p for p in of_kind(payloads, CaseFeatured, CaseUnfeatured)
                    if isinstance(p, (CaseFeatured, CaseUnfeatured))]
    for projection, (first_seen, seen_before) in entity_rows:
        # Entities not found just now are inserted, not upserted (half the database's work; nearly every
        # entity of a rebuild). Another writer inserting one meanwhile fails the batch, which then goes
        # event by event and finds it.
        await bulk.insert_rows(conn, projection.table, first_seen)
        await bulk.upsert_replacing_rows(conn, projection.table, [projection.key], seen_before)
    for table_name, counter_rows in sorted(delta.items()):
        table, keys, columns = COUNTER_TABLES[table_name]
        # Sorted keys: concurrent dashboard replicas lock counter rows in one order, never deadlock.
        await bulk.upsert_adding_rows(conn, table, keys, columns, [
            dict(zip(keys, key, strict=True)) | {c: int(moved.get(c, 0)) for c in columns}
            for key, moved in sorted(counter_rows.items(), key=lambda item: [str(k) for k in item[0]])])
    if edition_rows:
        await conn.execute(upsert_replacing(conn, editions, ["edition_id"], None), list(edition_rows.values()))
    for case in case_changes:
        if isinstance(case, CaseFeatured):
            await conn.execute(upsert_replacing(conn, featured_cases, ["case_id"], {
                "case_id": case.case_id, "edition_id": case.edition_id, "rank": case.rank,
                "title": case.title, "sector": case.sector.value, "enterprise": case.enterprise,
                "country": case.country}))
        else:
            await conn.execute(featured_cases.delete().where(featured_cases.c.case_id == case.case_id))
    if delta or case_changes or edition_rows:
        await conn.execute(upsert_replacing(conn, read_model_state, ["name"], None),
                           {"name": "totals", "updated_at": datetime.now(UTC)})


async def apply_event(conn: AsyncConnection, envelope: CloudEvent, payload: BaseModel) -> None:
    """The per-event path (retries and dead letters go event by event): a batch of one."""
    await apply_events(conn, [(envelope, payload)])


SUBSCRIPTIONS = Subscriptions.of(
    subscribe(DelegateState, apply_event),
    subscribe(ProjectState, apply_event),
    subscribe(OrganizationState, apply_event),
    subscribe(EditionOpened, apply_event),
    subscribe(CaseFeatured, apply_event),
    subscribe(CaseUnfeatured, apply_event),
    batch_handler=apply_events,
)
