"""How one entity's state contributes to the counters, and how a change moves them.

Each event carries the entity's state after the change; the read model keeps the state it saw last.
The counters move by ``contribution(new) - contribution(old)``, which makes every event type, in any
combination, count exactly once, and makes a country, sector or amount change move the right rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass
from decimal import Decimal

from shared.events.types import DelegateStatus, OrganizationStatus, ProjectStatus

# counter table -> key -> column -> amount
Contribution = dict[str, dict[tuple[Hashable, ...], Counter[str]]]

DELEGATE_COUNTS = "delegate_counts"
SECTOR_COUNTS = "project_sector_counts"
PROJECT_COUNTRY_COUNTS = "project_country_counts"
NETWORK_COUNTS = "network_counts"


@dataclass(frozen=True)
class DelegateFacts:
    edition_id: str
    country: str
    status: DelegateStatus


@dataclass(frozen=True)
class ProjectFacts:
    edition_id: str
    sector: str
    status: ProjectStatus
    amount_cny: Decimal
    countries: tuple[str, ...]


@dataclass(frozen=True)
class OrganizationFacts:
    country: str
    status: OrganizationStatus


def delegate_contribution(facts: DelegateFacts | None) -> Contribution:
    if facts is None or facts.status == DelegateStatus.cancelled:
        return {}
    counts: Counter[str] = Counter(registered=1)
    if facts.status == DelegateStatus.checked_in:
        counts["checked_in"] = 1
    return {DELEGATE_COUNTS: {(facts.edition_id, facts.country): counts}}


def project_contribution(facts: ProjectFacts | None) -> Contribution:
    if facts is None or facts.status != ProjectStatus.signed:
        return {}
    amount = int(facts.amount_cny * 100)  # counters move in fen: integers are exact everywhere
    return {
        SECTOR_COUNTS: {(facts.edition_id, facts.sector): Counter(signed=1, amount_fen=amount)},
        PROJECT_COUNTRY_COUNTS: {(facts.edition_id, c): Counter(projects=1, amount_fen=amount)
                                 for c in set(facts.countries)},
    }


def organization_contribution(facts: OrganizationFacts | None) -> Contribution:
    if facts is None or facts.status != OrganizationStatus.active:
        return {}
    return {NETWORK_COUNTS: {(facts.country,): Counter(organizations=1)}}


def change(old: Contribution, new: Contribution) -> Contribution:
    """``new - old`` per table, key and column; rows whose change is all zero are left out."""
    delta: Contribution = {}
    for table in set(old) | set(new):
        rows = delta.setdefault(table, {})
        for key in set(old.get(table, {})) | set(new.get(table, {})):
            before = old.get(table, {}).get(key, Counter())
            after = new.get(table, {}).get(key, Counter())
            moved = Counter({c: after.get(c, 0) - before.get(c, 0) for c in set(before) | set(after)
                             if after.get(c, 0) != before.get(c, 0)})
            if moved:
                rows[key] = moved
        if not rows:
            del delta[table]
    return delta


def accumulate(total: Contribution, delta: Contribution) -> None:
    """Add ``delta`` into ``total`` in place (a batch's changes, summed before they are written)."""
    for table, rows in delta.items():
        target = total.setdefault(table, {})
        for key, moved in rows.items():
            target.setdefault(key, Counter()).update(moved)
