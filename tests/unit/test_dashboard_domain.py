"""How entity changes move the dashboard's counters (pure logic)."""

from datetime import UTC, datetime
from decimal import Decimal

from services.dashboard.domain import (
    CONFERENCE_TIME,
    DELEGATE_COUNTS,
    NETWORK_COUNTS,
    PROJECT_COUNTRY_COUNTS,
    SECTOR_COUNTS,
    TIMELINE_COUNTS,
    DelegateFacts,
    OrganizationFacts,
    ProjectFacts,
    Span,
    bucket_start,
    change,
    delegate_contribution,
    organization_contribution,
    project_contribution,
)
from shared.events.types import DelegateStatus, OrganizationStatus, ProjectStatus


def delegate(country: str, status: DelegateStatus) -> DelegateFacts:
    return DelegateFacts("e1", country, status)


def test_a_new_delegate_adds_one_registered_in_its_country() -> None:
    delta = change({}, delegate_contribution(delegate("MY", DelegateStatus.registered)))
    assert delta == {DELEGATE_COUNTS: {("e1", "MY"): {"registered": 1}}}


def test_check_in_adds_checked_in_without_registering_twice() -> None:
    old = delegate_contribution(delegate("MY", DelegateStatus.registered))
    new = delegate_contribution(delegate("MY", DelegateStatus.checked_in))
    assert change(old, new) == {DELEGATE_COUNTS: {("e1", "MY"): {"checked_in": 1}}}


def test_cancelling_a_checked_in_delegate_removes_both_counts() -> None:
    old = delegate_contribution(delegate("SG", DelegateStatus.checked_in))
    new = delegate_contribution(delegate("SG", DelegateStatus.cancelled))
    assert change(old, new) == {DELEGATE_COUNTS: {("e1", "SG"): {"registered": -1, "checked_in": -1}}}


def test_a_country_change_moves_the_delegate_between_rows() -> None:
    old = delegate_contribution(delegate("SG", DelegateStatus.registered))
    new = delegate_contribution(delegate("MY", DelegateStatus.registered))
    assert change(old, new) == {DELEGATE_COUNTS: {("e1", "SG"): {"registered": -1},
                                                  ("e1", "MY"): {"registered": 1}}}


def test_the_same_state_twice_changes_nothing() -> None:
    facts = delegate_contribution(delegate("SG", DelegateStatus.registered))
    assert change(facts, facts) == {}


def test_a_project_counts_once_per_distinct_country_with_its_full_amount() -> None:
    project = ProjectFacts("e1", "green_energy", ProjectStatus.signed, Decimal("100.05"), ("CN", "MY", "MY"))
    delta = change({}, project_contribution(project))
    assert delta[SECTOR_COUNTS] == {("e1", "green_energy"): {"signed": 1, "amount_fen": 10005}}
    assert delta[PROJECT_COUNTRY_COUNTS] == {("e1", "CN"): {"projects": 1, "amount_fen": 10005},
                                             ("e1", "MY"): {"projects": 1, "amount_fen": 10005}}


def test_withdrawing_a_project_takes_back_exactly_what_it_added() -> None:
    signed = ProjectFacts("e1", "energy", ProjectStatus.signed, Decimal("43790000000.00"), ("CN",))
    withdrawn = ProjectFacts("e1", "energy", ProjectStatus.withdrawn, Decimal("43790000000.00"), ("CN",))
    added = change({}, project_contribution(signed))
    taken = change(project_contribution(signed), project_contribution(withdrawn))
    for table, rows in added.items():
        for key, counts in rows.items():
            assert {c: -v for c, v in counts.items()} == dict(taken[table][key])


def test_only_active_members_count_in_the_network() -> None:
    active = organization_contribution(OrganizationFacts("MY", OrganizationStatus.active))
    left = organization_contribution(OrganizationFacts("MY", OrganizationStatus.left))
    assert change({}, active) == {NETWORK_COUNTS: {("MY",): {"organizations": 1}}}
    assert change(active, left) == {NETWORK_COUNTS: {("MY",): {"organizations": -1}}}
    assert left == {}


def test_timeline_buckets_are_cut_in_conference_time() -> None:
    late_utc = datetime(2026, 10, 19, 16, 37, 12, tzinfo=UTC)  # 00:37 on 20 October in Chongqing
    assert bucket_start(late_utc, Span.day) == datetime(2026, 10, 20, tzinfo=CONFERENCE_TIME)
    assert bucket_start(late_utc, Span.ten_minutes) == datetime(2026, 10, 20, 0, 30, tzinfo=CONFERENCE_TIME)


def test_a_delegate_sits_in_the_buckets_of_registration_and_check_in_and_leaves_when_cancelled() -> None:
    registered_at = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
    checked_in_at = datetime(2026, 10, 20, 1, 5, tzinfo=UTC)
    facts = DelegateFacts("e1", "MY", DelegateStatus.checked_in, registered_at, checked_in_at)
    timeline = delegate_contribution(facts)[TIMELINE_COUNTS]
    assert timeline[("e1", "day", bucket_start(registered_at, Span.day))] == {"registered": 1}
    assert timeline[("e1", "10min", bucket_start(checked_in_at, Span.ten_minutes))] == {"checked_in": 1}
    cancelled = DelegateFacts("e1", "MY", DelegateStatus.cancelled, registered_at, checked_in_at)
    moved = change(delegate_contribution(facts), delegate_contribution(cancelled))[TIMELINE_COUNTS]
    assert sum(c.get("registered", 0) for c in moved.values()) == -2  # its day and its ten minutes
    pending = DelegateFacts("e1", "MY", DelegateStatus.pending, registered_at)
    assert TIMELINE_COUNTS not in delegate_contribution(pending)  # counted once approved
