"""Offline scans resolved oldest first: one check-in per delegate, at the earliest scan (pure logic)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.registration import domain
from services.registration.domain import Scan, ScanResult
from shared.events import registration as events
from shared.events.types import DelegateCategory, DelegateStatus

T0 = datetime(2026, 10, 20, 1, 0, tzinfo=UTC)


def delegate(badge: str, **changes: object) -> domain.Delegate:
    made, _ = domain.register(edition_id="e1", full_name="Li Wei", name_zh=None, country="MY", city=None,
                              organization=None, email=f"{badge}@example.org", phone=None,
                              category=DelegateCategory.guest, now=T0 - timedelta(days=30))
    return replace(made, badge_code=badge, **changes)  # type: ignore[arg-type]


def test_the_earliest_scan_checks_in_whatever_the_upload_order() -> None:
    alice = delegate("a")
    scans = [Scan("n2", "a", T0 + timedelta(minutes=5)), Scan("n1", "a", T0), Scan("n3", "zzz", T0)]
    resolved = domain.resolve_scans(scans, {"a": alice})
    assert {n: o.result for n, o in resolved.outcomes.items()} == {
        "n1": ScanResult.ok, "n2": ScanResult.already_checked_in, "n3": ScanResult.unknown}
    assert resolved.outcomes["n2"].checked_in_at == T0
    assert [type(e) for e in resolved.events] == [events.DelegateCheckedIn]
    before, after = resolved.changed[alice.id]
    assert before == alice and after.status == DelegateStatus.checked_in and after.checked_in_at == T0


def test_an_earlier_scan_uploaded_later_moves_the_check_in_back_as_an_update() -> None:
    inside = delegate("a", status=DelegateStatus.checked_in, checked_in_at=T0)
    resolved = domain.resolve_scans([Scan("n", "a", T0 - timedelta(minutes=2))], {"a": inside})
    assert resolved.outcomes["n"].result == ScanResult.already_checked_in
    assert [type(e) for e in resolved.events] == [events.DelegateUpdated]
    assert resolved.changed[inside.id][1].checked_in_at == T0 - timedelta(minutes=2)
    later = domain.resolve_scans([Scan("m", "a", T0 + timedelta(minutes=2))], {"a": inside})
    assert later.events == [] and later.changed == {}


def test_who_is_not_let_in() -> None:
    found = {"c": delegate("c", status=DelegateStatus.cancelled), "p": delegate("p", status=DelegateStatus.pending),
             "w": delegate("w")}
    resolved = domain.resolve_scans([Scan("1", "c", T0), Scan("2", "p", T0), Scan("3", "w", T0, edition_id="e2")],
                                    found)
    assert [resolved.outcomes[n].result for n in "123"] == [ScanResult.cancelled, ScanResult.not_approved,
                                                            ScanResult.wrong_edition]
    assert resolved.events == [] and resolved.changed == {}
