"""Registration rules (pure): rotation, co-hosts, check-in, enrolment and the wait-list."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from services.registration import domain
from services.registration.domain import CountableState, SessionKind
from shared.events.types import DelegateCategory, DelegateStatus, Host

WHEN = datetime(2026, 10, 20, 1, 30, tzinfo=UTC)
DELEGATE = domain.Delegate(
    id="d1", edition_id="e", full_name="Li Wei", name_zh=None, country="MY", city=None, organization=None,
    email="li.wei@example.org", phone=None, category=DelegateCategory.guest, status=DelegateStatus.registered,
    badge_code="badge", registered_at=WHEN, checked_in_at=None, cancelled_at=None)
SESSION = domain.Session(id="s1", edition_id="e", kind=SessionKind.forum, title="Forum", capacity=3,
                         starts_at=WHEN, created_at=WHEN)


def delegate(status: DelegateStatus, *, checked_in_at: datetime | None = None, cancelled_at: datetime | None = None,
             edition_id: str = "e") -> domain.Delegate:
    return replace(DELEGATE, status=status, checked_in_at=checked_in_at, cancelled_at=cancelled_at,
                   edition_id=edition_id)


def test_rotation_over_five_editions_starts_in_chongqing_and_alternates() -> None:
    hosts, previous = [], None
    for _ in range(5):
        previous = domain.host_after(previous)
        hosts.append(previous)
    assert hosts == [Host.chongqing, Host.sichuan, Host.chongqing, Host.sichuan, Host.chongqing]


def test_co_hosts_keep_their_order_and_appear_once() -> None:
    given = ["All-China Federation of Returned Overseas Chinese", "Chongqing  Municipal People's Government",
             "all-china federation of returned overseas chinese", "Sichuan Provincial People's Government"]
    assert domain.normalize_co_hosts(given) == [
        "All-China Federation of Returned Overseas Chinese", "Chongqing Municipal People's Government",
        "Sichuan Provincial People's Government"]
    assert domain.next_co_hosts(None) == []
    previous = ["A", "B"]
    carried = domain.next_co_hosts(previous)
    assert carried == previous and carried is not previous


def test_first_scan_checks_in() -> None:
    assert domain.check_in(delegate(DelegateStatus.registered), scanned_for=None, now=WHEN)[0].status == \
        DelegateStatus.checked_in


def test_second_scan_names_when_the_first_happened() -> None:
    with pytest.raises(domain.AlreadyCheckedIn) as caught:
        domain.check_in(delegate(DelegateStatus.checked_in, checked_in_at=WHEN), scanned_for=None, now=WHEN)
    assert caught.value.status == 409 and caught.value.code == "already_checked_in"
    assert caught.value.extra["checked_in_at"] == "2026-10-20T01:30:00Z"
    assert "2026-10-20T01:30:00Z" in caught.value.detail


def test_a_cancelled_badge_does_not_check_in() -> None:
    with pytest.raises(domain.DelegateCancelled) as caught:
        domain.check_in(delegate(DelegateStatus.cancelled, cancelled_at=WHEN), scanned_for=None, now=WHEN)
    assert caught.value.status == 409 and caught.value.code == "delegate_cancelled"


def test_a_scanner_for_one_edition_refuses_another_editions_badge() -> None:
    domain.check_badge_edition("e1", None)
    domain.check_badge_edition("e1", "e1")
    with pytest.raises(domain.WrongEdition):
        domain.check_badge_edition("e1", "e2")


def test_a_cancelled_registration_cannot_be_changed() -> None:
    domain.check_changeable(delegate(DelegateStatus.checked_in))
    with pytest.raises(domain.DelegateCancelled):
        domain.check_changeable(delegate(DelegateStatus.cancelled, cancelled_at=WHEN))


def test_only_countable_changes_are_announced() -> None:
    before = CountableState("MY", DelegateCategory.guest, DelegateStatus.registered)
    assert not domain.countable_change(before, CountableState("MY", DelegateCategory.guest,
                                                              DelegateStatus.registered))
    assert domain.countable_change(before, CountableState("SG", DelegateCategory.guest, DelegateStatus.registered))
    assert domain.countable_change(before, CountableState("MY", DelegateCategory.media, DelegateStatus.registered))


def test_a_delegate_is_private_until_they_consent() -> None:
    registered, event = domain.register(
        edition_id="e", full_name="Li Wei", name_zh=None, country="MY", city=None, organization=None,
        email="li.wei@example.org", phone=None, category=DelegateCategory.guest, now=WHEN)
    assert registered.listed_publicly is False and not domain.visible_to_anonymous(registered)
    assert "listed_publicly" not in event.model_dump()  # consent is personal: it never travels
    consenting, _ = domain.register(
        edition_id="e", full_name="Li Wei", name_zh=None, country="MY", city=None, organization=None,
        email="li.wei@example.org", phone=None, category=DelegateCategory.guest, now=WHEN, listed_publicly=True)
    assert domain.visible_to_anonymous(consenting)


def test_giving_or_withdrawing_consent_is_not_announced() -> None:
    given, event = domain.update(DELEGATE, {"listed_publicly": True})
    assert given.listed_publicly is True and event is None
    withdrawn, event = domain.update(given, {"listed_publicly": False})
    assert not domain.visible_to_anonymous(withdrawn) and event is None


@pytest.mark.parametrize(("starts_at", "ok"), [
    (datetime(2026, 10, 20, 1, 0, tzinfo=UTC), True),
    (datetime(2026, 10, 19, 23, 0, tzinfo=UTC), True),  # 07:00 in Chengdu on the first day
    (datetime(2026, 10, 23, 9, 0, tzinfo=UTC), True),   # a field visit the day after
    (datetime(2026, 10, 18, 9, 0, tzinfo=UTC), False),
    (datetime(2026, 10, 24, 9, 0, tzinfo=UTC), False),
    (datetime(2027, 10, 20, 9, 0, tzinfo=UTC), False),
])
def test_a_session_runs_during_its_edition(starts_at: datetime, ok: bool) -> None:
    if ok:
        domain.check_session_start(starts_at, date(2026, 10, 20), date(2026, 10, 22))
    else:
        with pytest.raises(domain.InvalidSessionStart):
            domain.check_session_start(starts_at, date(2026, 10, 20), date(2026, 10, 22))


def test_who_may_enrol() -> None:
    domain.check_enrollable(delegate(DelegateStatus.checked_in), SESSION)
    with pytest.raises(domain.DelegateCancelled):
        domain.check_enrollable(delegate(DelegateStatus.cancelled), SESSION)
    with pytest.raises(domain.WrongEdition):
        domain.check_enrollable(delegate(DelegateStatus.registered, edition_id="other"), SESSION)


def test_a_newcomer_takes_the_lowest_free_seat_until_full() -> None:
    assert domain.place_for_newcomer(capacity=3, taken_seats=set(), waiting=0) == 1
    assert domain.place_for_newcomer(capacity=3, taken_seats={1, 3}, waiting=0) == 2
    assert domain.place_for_newcomer(capacity=3, taken_seats={1, 2, 3}, waiting=0) is None


def test_a_newcomer_never_overtakes_the_wait_list() -> None:
    assert domain.place_for_newcomer(capacity=3, taken_seats={1, 2}, waiting=1) is None


def test_a_capacity_filled_one_by_one_never_overbooks() -> None:
    taken: set[int] = set()
    waiting = 0
    for _ in range(200):
        seat = domain.place_for_newcomer(capacity=50, taken_seats=taken, waiting=waiting)
        if seat is None:
            waiting += 1
        else:
            assert seat not in taken
            taken.add(seat)
    assert taken == set(range(1, 51)) and waiting == 150
