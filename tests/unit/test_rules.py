"""Domain rules of registration, projects and network (pure logic)."""

from decimal import Decimal

import pytest

from services.network import domain as network
from services.projects import domain as projects
from services.registration import domain as registration
from shared.events.types import DelegateCategory, DelegateStatus, Host, OrganizationStatus, ProjectStatus


def test_the_rotation_starts_in_chongqing_and_alternates() -> None:
    hosts = []
    previous = None
    for _ in range(5):
        previous = registration.host_after(previous)
        hosts.append(previous)
    assert hosts == [Host.chongqing, Host.sichuan, Host.chongqing, Host.sichuan, Host.chongqing]


def test_an_edition_cannot_end_before_it_starts() -> None:
    from datetime import date

    with pytest.raises(registration.InvalidEditionDates):
        registration.check_edition_dates(2025, date(2025, 7, 31), date(2025, 7, 30))


def test_emails_compare_case_insensitively() -> None:
    assert registration.normalize_email(" Li.Wei@Example.ORG ") == "li.wei@example.org"


def test_badge_codes_are_unguessable_and_distinct() -> None:
    codes = {registration.new_badge_code() for _ in range(1000)}
    assert len(codes) == 1000 and all(len(c) >= 20 for c in codes)


def test_a_cancelled_delegate_cannot_be_cancelled_again() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 10, 20, tzinfo=UTC)
    checked_in = registration.Delegate(
        id="d1", edition_id="e1", full_name="Li Wei", name_zh=None, country="MY", city=None, organization=None,
        email="li.wei@example.org", phone=None, category=DelegateCategory.guest, status=DelegateStatus.checked_in,
        badge_code="badge", registered_at=now, checked_in_at=now, cancelled_at=None)
    cancelled, _ = registration.cancel(checked_in, now=now)
    assert cancelled.status == DelegateStatus.cancelled
    with pytest.raises(registration.DelegateAlreadyCancelled):
        registration.cancel(cancelled, now=now)


def test_amounts_convert_to_yuan_exactly_to_the_fen() -> None:
    assert projects.amount_in_cny(Decimal("43790000000.00"), "CNY", None) == Decimal("43790000000.00")
    assert projects.amount_in_cny(Decimal("1000000.00"), "USD", Decimal("7.1234")) == Decimal("7123400.00")
    assert projects.amount_in_cny(Decimal("0.01"), "EUR", Decimal("7.555")) == Decimal("0.08")


def test_a_project_party_must_be_an_active_member() -> None:
    projects.check_member_active("o1", OrganizationStatus.active)
    with pytest.raises(projects.UnknownOrganization):
        projects.check_member_active("o1", None)
    with pytest.raises(projects.InactiveOrganization):
        projects.check_member_active("o1", OrganizationStatus.suspended)


def test_a_withdrawn_project_cannot_be_withdrawn_again() -> None:
    from tests.support.fakes.projects import NOW, a_project  # here: this file is shared by three services

    with pytest.raises(projects.ProjectAlreadyWithdrawn):
        projects.withdraw(a_project(status=ProjectStatus.withdrawn), now=NOW)


def test_organisation_names_are_unique_whatever_their_case_and_spacing() -> None:
    assert network.normalize_name("Malaysia  Chinese Chamber") == network.normalize_name("malaysia chinese CHAMBER")
