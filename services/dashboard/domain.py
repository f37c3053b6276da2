"""How one entity's state contributes to the counters, and how a change moves them.

Each event carries the entity's state after the change; the read model keeps the state it saw last.
The counters move by ``contribution(new) - contribution(old)``, which makes every event type, in any
combination, count exactly once, and makes a country, sector or amount change move the right rows.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Any

from shared.events.types import DelegateStatus, OrganizationStatus, ProjectStatus

# counter table -> key -> column -> amount
Contribution = dict[str, dict[tuple[Hashable, ...], dict[str, int]]]

DELEGATE_COUNTS = "delegate_counts"
SECTOR_COUNTS = "project_sector_counts"
PROJECT_COUNTRY_COUNTS = "project_country_counts"
NETWORK_COUNTS = "network_counts"
TIMELINE_COUNTS = "timeline_counts"
# The conference's days are China's (UTC+8 all year, no daylight saving): a registration at 23:30 in
# Chongqing belongs to that day, not to the next one as in UTC.
CONFERENCE_TIME = timezone(timedelta(hours=8), "UTC+08:00")


class Span(StrEnum):
    """The timeline's buckets: days while delegates register, ten minutes on the conference days."""

    day = "day"
    ten_minutes = "10min"


# (span, its label, its length in seconds): iterating an Enum class is slow, and this runs per delegate event.
_SPANS = tuple((span, span.value, {Span.day: 86_400, Span.ten_minutes: 600}[span]) for span in Span)
_CONFERENCE_OFFSET = int(CONFERENCE_TIME.utcoffset(None).total_seconds())


def bucket_start(moment: datetime, span: Span) -> datetime:
    """The start of ``moment``'s bucket, in conference time."""
    return dict(bucket_starts(moment))[span.value]


def bucket_starts(moment: datetime) -> list[tuple[str, datetime]]:
    """``moment``'s bucket in every span: (the span's label, the bucket's start in conference time)."""
    # Conference time has a fixed offset, so a bucket is a whole number of spans since the epoch there:
    # one timestamp, integer arithmetic and a cached datetime per bucket, not a time-zone conversion per
    # event and span (a rebuild places every registration in two buckets).
    local_seconds = math.floor(moment.timestamp()) + _CONFERENCE_OFFSET
    return [(label, _bucket(local_seconds // size, size)) for _, label, size in _SPANS]


@functools.lru_cache(maxsize=8192)
def _bucket(index: int, size: int) -> datetime:
    return datetime.fromtimestamp(index * size - _CONFERENCE_OFFSET, CONFERENCE_TIME)


@dataclass(frozen=True)
class DelegateFacts:
    edition_id: str
    country: str
    status: DelegateStatus
    # For the timeline; None on events written before they carried them (such delegates count, off the timeline).
    registered_at: datetime | None = None
    checked_in_at: datetime | None = None


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


_DELEGATE_COUNTS_BY_STATUS: dict[DelegateStatus, dict[str, int]] = {
    DelegateStatus.pending: {"pending": 1},  # waits for approval: its own figure, not registered
    DelegateStatus.registered: {"registered": 1},
    DelegateStatus.checked_in: {"registered": 1, "checked_in": 1},
}


def delegate_contribution(facts: DelegateFacts | None) -> Contribution:
    """Registered (approved, checked-in ones included) or pending; cancelled and rejected count nowhere."""
    counts = None if facts is None else _DELEGATE_COUNTS_BY_STATUS.get(facts.status)
    if facts is None or counts is None:
        return {}
    contribution: Contribution = {DELEGATE_COUNTS: {(facts.edition_id, facts.country): counts}}
    timeline = _timeline_contribution(facts) if "registered" in counts else {}
    if timeline:
        contribution[TIMELINE_COUNTS] = timeline
    return contribution


def _timeline_contribution(facts: DelegateFacts) -> dict[tuple[Hashable, ...], dict[str, int]]:
    """A registered delegate in the bucket of their registration, and of their check-in once scanned: the
    timeline is of registrations that stand (a cancelled one leaves its bucket) and of check-ins."""
    rows: dict[tuple[Hashable, ...], dict[str, int]] = {}
    checked_in_at = facts.checked_in_at if facts.status == DelegateStatus.checked_in else None
    if facts.registered_at is not None:
        for label, start in bucket_starts(facts.registered_at):
            rows[facts.edition_id, label, start] = {"registered": 1}
    if checked_in_at is not None:
        for label, start in bucket_starts(checked_in_at):
            rows.setdefault((facts.edition_id, label, start), {})["checked_in"] = 1
    return rows


def project_contribution(facts: ProjectFacts | None) -> Contribution:
    if facts is None or facts.status != ProjectStatus.signed:
        return {}
    amount = int(facts.amount_cny * 100)  # counters move in fen: integers are exact everywhere
    return {
        SECTOR_COUNTS: {(facts.edition_id, facts.sector): {"signed": 1, "amount_fen": amount}},
        PROJECT_COUNTRY_COUNTS: {(facts.edition_id, c): {"projects": 1, "amount_fen": amount}
                                 for c in set(facts.countries)},
    }


def organization_contribution(facts: OrganizationFacts | None) -> Contribution:
    if facts is None or facts.status != OrganizationStatus.active:
        return {}
    return {NETWORK_COUNTS: {(facts.country,): {"organizations": 1}}}


# Plain dicts and loops rather than Counter arithmetic: a rebuild runs these once per event.
_NONE: dict[Any, Any] = {}


def change(old: Contribution, new: Contribution) -> Contribution:
    """``new - old`` per table, key and column; rows whose change is all zero are left out.

    An entity seen for the first time (``old`` empty, most events of a rebuild) moves the counters by
    its contribution itself, returned as is (not copied: ``accumulate`` copies what it keeps)."""
    if not old:
        return new
    delta: Contribution = {}
    for table in old.keys() | new.keys():
        before_rows, after_rows = old.get(table, _NONE), new.get(table, _NONE)
        rows: dict[tuple[Hashable, ...], dict[str, int]] = {}
        for key in before_rows.keys() | after_rows.keys():
            before, after = before_rows.get(key, _NONE), after_rows.get(key, _NONE)
            moved = {c: after.get(c, 0) - before.get(c, 0) for c in before.keys() | after.keys()
                     if after.get(c, 0) != before.get(c, 0)}
            if moved:
                rows[key] = moved
        if rows:
            delta[table] = rows
    return delta


def accumulate(total: Contribution, delta: Contribution) -> None:
    """Add ``delta`` into ``total`` in place (a batch's changes, summed before they are written)."""
    for table, rows in delta.items():
        target = total.setdefault(table, {})
        for key, moved in rows.items():
            into = target.get(key)
            if into is None:
                target[key] = dict(moved)
                continue
            for column, amount in moved.items():
                into[column] = into.get(column, 0) + amount
