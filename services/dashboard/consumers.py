"""Applies the three topics to the read model: remember each entity's state, move the counters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Table, select
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
from shared.db.statements import upsert_adding, upsert_replacing
from shared.events import CloudEvent
from shared.events.network import OrganizationState
from shared.events.projects import CaseFeatured, CaseUnfeatured, ProjectState
from shared.events.registration import DelegateState, EditionOpened
from shared.events.types import DelegateStatus, OrganizationStatus, ProjectStatus
from shared.messaging.subscriptions import Subscriptions, subscribe


@dataclass(frozen=True)
class _Kind:
    """How one kind of entity is remembered (``seen_*``) and how its state moves the counters."""

    payload: type[BaseModel]
    table: Table
    key: str
    id_of: Callable[[Any], str]
    facts_of_payload: Callable[[Any], Any]
    facts_of_row: Callable[[Any], Any]
    row_of: Callable[[str, Any], dict[str, Any]]
    contribution: Callable[[Any], domain.Contribution]


KINDS = (
    _Kind(DelegateState, seen_delegates, "delegate_id", lambda p: p.delegate_id,
          lambda p: domain.DelegateFacts(p.edition_id, p.country, p.status),
          lambda r: domain.DelegateFacts(r.edition_id, r.country, DelegateStatus(r.status)),
          lambda i, f: {"delegate_id": i, "edition_id": f.edition_id, "country": f.country, "status": f.status.value},
          domain.delegate_contribution),
    _Kind(ProjectState, seen_projects, "project_id", lambda p: p.project_id,
          lambda p: domain.ProjectFacts(p.edition_id, p.sector.value, p.status, p.amount_cny,
                                        tuple(sorted(set(p.countries)))),
          lambda r: domain.ProjectFacts(r.edition_id, r.sector, ProjectStatus(r.status), Decimal(r.amount_fen) / 100,
                                        tuple(c for c in r.countries.split(",") if c)),
          lambda i, f: {"project_id": i, "edition_id": f.edition_id, "sector": f.sector, "status": f.status.value,
                        "amount_fen": int(f.amount_cny * 100), "countries": ",".join(f.countries)},
          domain.project_contribution),
    _Kind(OrganizationState, seen_organizations, "organization_id", lambda p: p.organization_id,
          lambda p: domain.OrganizationFacts(p.country, p.status),
          lambda r: domain.OrganizationFacts(r.country, OrganizationStatus(r.status)),
          lambda i, f: {"organization_id": i, "country": f.country, "status": f.status.value},
          domain.organization_contribution),
)
_LOOKUP_CHUNK = 1000


def _kind_of(payload: BaseModel) -> _Kind | None:
    return next((k for k in KINDS if isinstance(payload, k.payload)), None)


async def apply_events(conn: AsyncConnection, events: list[tuple[CloudEvent, BaseModel]]) -> None:
    """Apply new events, in order, with a handful of statements whatever their number.

    The last state seen of every entity in the batch is read at once; each event moves the counters by
    ``contribution(new) - contribution(old)`` in memory; then the entity rows, the counter deltas,
    editions and cases are written in bulk. The same entity twice in a batch chains correctly.
    """
    known: dict[_Kind, dict[str, Any]] = {}
    for kind in KINDS:
        ids = sorted({kind.id_of(p) for _, p in events if isinstance(p, kind.payload)})
        known[kind] = {}
        for i in range(0, len(ids), _LOOKUP_CHUNK):
            rows = (await conn.execute(select(kind.table).where(
                kind.table.c[kind.key].in_(ids[i:i + _LOOKUP_CHUNK])))).all()
            known[kind].update({getattr(r, kind.key): kind.facts_of_row(r) for r in rows})
    changed: dict[_Kind, dict[str, Any]] = {kind: {} for kind in KINDS}
    delta: domain.Contribution = {}
    edition_rows: dict[str, dict[str, Any]] = {}
    case_changes: list[tuple[str, Any]] = []
    for _, payload in events:
        entity_kind = _kind_of(payload)
        if entity_kind is not None:
            entity_id, new = entity_kind.id_of(payload), entity_kind.facts_of_payload(payload)
            old = known[entity_kind].get(entity_id)
            domain.accumulate(delta, domain.change(entity_kind.contribution(old), entity_kind.contribution(new)))
            known[entity_kind][entity_id] = changed[entity_kind][entity_id] = new
        elif isinstance(payload, EditionOpened):
            edition_rows[payload.edition_id] = {
                "edition_id": payload.edition_id, "number": payload.number, "year": payload.year,
                "host": payload.host.value, "city": payload.city, "theme": payload.theme,
                "starts_on": payload.starts_on.isoformat()}
        elif isinstance(payload, (CaseFeatured, CaseUnfeatured)):
            case_changes.append((type(payload).__name__, payload))
    for kind, entities in changed.items():
        if entities:
            await conn.execute(upsert_replacing(conn, kind.table, [kind.key], None),
                               [kind.row_of(i, f) for i, f in entities.items()])
    for table_name, counter_rows in sorted(delta.items()):
        table, keys, columns = COUNTER_TABLES[table_name]
        # Sorted keys: concurrent dashboard replicas lock counter rows in one order, never deadlock.
        await conn.execute(upsert_adding(conn, table, keys, None, columns), [
            dict(zip(keys, key, strict=True)) | {c: int(moved.get(c, 0)) for c in columns}
            for key, moved in sorted(counter_rows.items(), key=lambda item: [str(k) for k in item[0]])])
    if edition_rows:
        await conn.execute(upsert_replacing(conn, editions, ["edition_id"], None), list(edition_rows.values()))
    for name, payload in case_changes:  # in order: a case may be featured and unfeatured in one batch
        if name == "CaseFeatured":
            await conn.execute(upsert_replacing(conn, featured_cases, ["case_id"], {
                "case_id": payload.case_id, "edition_id": payload.edition_id, "rank": payload.rank,
                "title": payload.title, "sector": payload.sector.value, "enterprise": payload.enterprise,
                "country": payload.country}))
        else:
            await conn.execute(featured_cases.delete().where(featured_cases.c.case_id == payload.case_id))
    if delta or case_changes:
        await conn.execute(upsert_replacing(conn, read_model_state, ["name"],
                                            {"name": "totals", "updated_at": datetime.now(UTC)}))


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
