"""Project rules (pure): exact yuan, the fx rounding rule, amendments, the Top-10 cases."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.projects import domain
from services.projects.domain import UNSET, Price
from shared.events.types import OrganizationStatus, ProjectStatus, Sector

D = Decimal
NOW = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize(("amount", "currency", "rate", "expected"), [
    ("100.00", "CNY", None, "100.00"),
    ("0.01", "CNY", None, "0.01"),
    ("9999999999.99", "CNY", None, "9999999999.99"),
    ("1000000.00", "USD", "7.1234", "7123400.00"),
    ("0.03", "EUR", "0.5", "0.02"),              # 0.015 -> half up -> 0.02
    ("0.01", "JPY", "0.05", "0.00"),             # 0.0005 -> 0.00 (below half a fen)
    ("0.01", "JPY", "0.5", "0.01"),              # 0.005 exactly half a fen -> up
    ("1.00", "USD", "7.12345678", "7.12"),       # 7.12345678 -> 7.12
    ("1.00", "USD", "7.12500000", "7.13"),       # an exact half goes up, not to even (7.12 is even)
    ("3.00", "USD", "0.00500000", "0.02"),       # 0.015 -> 0.02 (banker's rounding would give 0.02 too)
    ("1.00", "USD", "0.02500000", "0.03"),       # 0.025 -> 0.03 (banker's would give 0.02)
    ("123456789.99", "MYR", "1.52345678", "188081083.75"),
    ("999999999.99", "GBP", "99999.99999999", "99999999998990.00"),  # 24 digits, none lost
])
def test_yuan_is_rounded_half_up_to_the_fen_once(amount: str, currency: str, rate: str | None,
                                                 expected: str) -> None:
    value = domain.amount_in_cny(D(amount), currency, D(rate) if rate else None)
    assert value == D(expected) and str(value) == expected


def test_conversion_is_exact_where_a_float_would_not_be() -> None:
    # 0.1 * 3 in binary floating point is 0.30000000000000004; in Decimal it is 0.3.
    assert domain.amount_in_cny(D("0.10"), "USD", D("3")) == D("0.30")
    assert sum((domain.amount_in_cny(D("0.01"), "CNY", None) for _ in range(10_000)), D(0)) == D("100.00")
    assert sum((domain.amount_in_cny(D("9999999999.99"), "CNY", None) for _ in range(1000)),
               D(0)) == D("9999999999990.00")


def test_a_yuan_value_above_the_maximum_is_refused() -> None:
    assert domain.amount_in_cny(domain.MAX_AMOUNT_CNY, "CNY", None) == domain.MAX_AMOUNT_CNY
    with pytest.raises(domain.AmountTooLarge):
        domain.amount_in_cny(D("200000000000000.00"), "USD", D("7.1"))


USD = Price(D("1000.00"), "USD", D("7.1"))
CNY = Price(D("1000.00"), "CNY", None)


def test_amending_the_amount_keeps_the_currency_and_its_rate() -> None:
    price = domain.amended_price(USD, amount=D("2000.00"))
    assert price == Price(D("2000.00"), "USD", D("7.1")) and price.amount_cny == D("14200.00")


def test_a_new_rate_alone_reconverts_the_same_amount() -> None:
    assert domain.amended_price(USD, fx_rate_to_cny=D("7.2")).amount_cny == D("7200.00")


def test_changing_the_currency_needs_a_new_rate() -> None:
    with pytest.raises(domain.FxRateRequired):
        domain.amended_price(USD, currency="EUR")
    with pytest.raises(domain.FxRateRequired):
        domain.amended_price(CNY, currency="USD", amount=D("10.00"))
    assert domain.amended_price(USD, currency="EUR", fx_rate_to_cny=D("7.8")).amount_cny == D("7800.00")


def test_a_foreign_amount_cannot_lose_its_rate() -> None:
    with pytest.raises(domain.FxRateRequired):
        domain.amended_price(USD, fx_rate_to_cny=None)


def test_changing_to_yuan_drops_the_rate_and_refuses_another() -> None:
    assert domain.amended_price(USD, currency="CNY") == Price(D("1000.00"), "CNY", None)
    assert domain.amended_price(USD, currency="CNY", fx_rate_to_cny=D(1)).fx_rate_to_cny is None
    with pytest.raises(domain.FxRateNotApplicable):
        domain.amended_price(USD, currency="CNY", fx_rate_to_cny=D("7.1"))
    with pytest.raises(domain.FxRateNotApplicable):
        domain.amended_price(CNY, fx_rate_to_cny=D("2"))


def test_an_amendment_above_the_maximum_is_refused_before_anything_is_written() -> None:
    with pytest.raises(domain.AmountTooLarge):
        domain.amended_price(USD, amount=D("999999999999999.99"))


def test_nothing_mentioned_is_nothing_changed() -> None:
    assert domain.amended_price(USD) == USD
    assert repr(UNSET) == "UNSET"


def test_a_withdrawn_project_cannot_be_amended() -> None:
    domain.check_amendable(ProjectStatus.signed)
    with pytest.raises(domain.ProjectNotAmendable) as caught:
        domain.check_amendable(ProjectStatus.withdrawn)
    assert caught.value.status == 409


def test_only_members_added_by_an_amendment_must_be_active() -> None:
    assert domain.added_organizations(["a", "b"], ["b", "c", "c"]) == ["c"]
    assert domain.added_organizations(["a"], []) == []
    domain.check_member_active("a", OrganizationStatus.active)
    with pytest.raises(domain.InactiveOrganization):
        domain.check_member_active("a", OrganizationStatus.suspended)
    with pytest.raises(domain.UnknownOrganization):
        domain.check_member_active("a", None)


def test_countries_are_distinct_and_sorted() -> None:
    assert domain.party_countries(["MY", "CN", "MY"]) == ["CN", "MY"]


def _case(status: domain.CaseStatus) -> domain.Case:
    return domain.Case(id="c", edition_id="e1", rank=1, title="t", sector=Sector.energy, enterprise="x", country="MY",
                       summary="s", project_id=None, status=status, created_at=NOW, unfeatured_at=None)


def test_a_case_is_unfeatured_once() -> None:
    assert domain.unfeature(_case(domain.CaseStatus.featured), now=NOW)[0].status == domain.CaseStatus.unfeatured
    with pytest.raises(domain.CaseAlreadyUnfeatured):
        domain.unfeature(_case(domain.CaseStatus.unfeatured), now=NOW)


def test_a_rank_held_by_a_featured_case_is_a_conflict_naming_the_holder() -> None:
    domain.check_rank_free(3, None)
    with pytest.raises(domain.RankTaken) as caught:
        domain.check_rank_free(3, "case-1")
    assert caught.value.status == 409 and caught.value.extra["case_id"] == "case-1"


def test_a_case_links_only_a_signed_project_of_its_own_edition() -> None:
    domain.check_case_project("p", case_edition_id="e1", project_edition_id="e1",
                              project_status=ProjectStatus.signed)
    with pytest.raises(domain.UnknownProject):
        domain.check_case_project("p", case_edition_id="e1", project_edition_id=None, project_status=None)
    with pytest.raises(domain.CaseProjectNotEligible, match="another edition"):
        domain.check_case_project("p", case_edition_id="e1", project_edition_id="e2",
                                  project_status=ProjectStatus.signed)
    with pytest.raises(domain.CaseProjectNotEligible, match="withdrawn"):
        domain.check_case_project("p", case_edition_id="e1", project_edition_id="e1",
                                  project_status=ProjectStatus.withdrawn)
