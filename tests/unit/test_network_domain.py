"""Membership rules of the Collaboration Network (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.network import domain
from shared.events.types import OrganizationKind, OrganizationStatus, ProjectStatus

ACTIVE, SUSPENDED, LEFT = OrganizationStatus.active, OrganizationStatus.suspended, OrganizationStatus.left
NOW = datetime(2026, 5, 20, 9, 0, tzinfo=UTC)


def member(status: OrganizationStatus) -> domain.Organization:
    return domain.Organization(id="o-1", name="Chinese Chamber", name_zh=None, country="MY",
                               kind=OrganizationKind.chamber_of_commerce, city=None, website=None,
                               contact_email=None, status=status, joined_at=NOW)


def test_suspend_and_reinstate_move_between_active_and_suspended() -> None:
    assert domain.suspend(member(ACTIVE), now=NOW)[0].status == SUSPENDED
    assert domain.reinstate(member(SUSPENDED), now=NOW)[0].status == ACTIVE


@pytest.mark.parametrize(("rule", "status", "error"), [
    (domain.suspend, SUSPENDED, domain.AlreadySuspended),
    (domain.suspend, LEFT, domain.AlreadyLeft),
    (domain.reinstate, ACTIVE, domain.NotSuspended),
    (domain.reinstate, LEFT, domain.AlreadyLeft),
    (domain.leave, LEFT, domain.AlreadyLeft),
])
def test_invalid_transitions_are_409s_with_their_own_code(rule: object, status: OrganizationStatus,
                                                          error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        rule(member(status), now=NOW)  # type: ignore[operator]
    assert caught.value.status == 409  # type: ignore[attr-defined]


@pytest.mark.parametrize("status", [ACTIVE, SUSPENDED])
def test_an_active_or_suspended_member_can_leave(status: OrganizationStatus) -> None:
    assert domain.leave(member(status), now=NOW)[0].status == LEFT


def test_a_former_member_cannot_be_edited() -> None:
    domain.check_editable(ACTIVE)
    domain.check_editable(SUSPENDED)
    with pytest.raises(domain.AlreadyLeft):
        domain.check_editable(LEFT)


def test_only_active_members_count() -> None:
    assert [domain.counts_as_member(s) for s in (ACTIVE, SUSPENDED, LEFT)] == [True, False, False]


def test_names_compare_whatever_their_case_and_spacing() -> None:
    folded = domain.normalize_name("chinese chamber of\tcommerce")
    assert domain.normalize_name("  Chinese   Chamber of COMMERCE ") == folded
    assert domain.normalize_name("Straße") == domain.normalize_name("STRASSE")


def test_the_signed_amount_counts_signed_projects_exactly() -> None:
    projects = [(ProjectStatus.signed, Decimal("0.10"))] * 3 + [(ProjectStatus.withdrawn, Decimal("5.00")),
                                                                (ProjectStatus.signed, Decimal("9999999999.99"))]
    assert domain.signed_amount(projects) == Decimal("10000000000.29")
    assert str(domain.signed_amount([])) == "0.00"
