"""Invitations and the approval of self-registrations: the pure rules, and the use cases on in-memory
repositories (nothing committed when a rule says no, the seat given back with it)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from services.registration import domain, service
from services.registration.schemas import EditionCreate, InvitationCreate, SelfRegistration
from shared.events import registration as events
from shared.events.types import DelegateCategory, DelegateStatus
from tests.support.fakes.registration import FakeRegistrationUnitOfWork

NOW = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)


def invitation(**changes: object) -> domain.Invitation:
    made = domain.create_invitation(edition_id="e1", label="Malaysian delegation", seats=3,
                                    expires_at=NOW + timedelta(days=7), country="MY", organization=None,
                                    category=DelegateCategory.representative, now=NOW)
    return replace(made, **changes)  # type: ignore[arg-type]


def pending() -> domain.Delegate:
    delegate, _ = domain.register(edition_id="e1", full_name="Tan Wei Ming", name_zh=None, country="MY", city=None,
                                  organization=None, email="tan@example.org", phone=None,
                                  category=DelegateCategory.representative, now=NOW, invitation=invitation())
    return delegate


def test_a_code_is_unguessable_and_must_expire_in_the_future() -> None:
    assert len(invitation().code) >= 16 and invitation().code != invitation().code
    with pytest.raises(domain.InvalidInvitation):
        domain.create_invitation(edition_id="e1", label="x", seats=1, expires_at=NOW, country=None,
                                 organization=None, category=DelegateCategory.guest, now=NOW)


def test_why_a_code_gave_no_seat() -> None:
    assert isinstance(domain.why_no_seat(None, now=NOW), domain.UnknownInvitation)
    assert isinstance(domain.why_no_seat(invitation(expires_at=NOW), now=NOW), domain.InvitationExpired)
    assert isinstance(domain.why_no_seat(invitation(used=3), now=NOW), domain.InvitationFull)


def test_a_country_delegation_registers_its_own_country_only() -> None:
    domain.check_delegation(invitation(), "MY")
    domain.check_delegation(invitation(country=None), "SG")
    with pytest.raises(domain.WrongDelegation):
        domain.check_delegation(invitation(), "SG")


def test_a_self_registration_is_pending_until_decided_once() -> None:
    delegate = pending()
    assert delegate.status == DelegateStatus.pending and delegate.invitation_id is not None
    with pytest.raises(domain.NotApproved):
        domain.check_in(delegate, scanned_for=None, now=NOW)
    approved, event = domain.approve(delegate, now=NOW)
    assert approved.status == DelegateStatus.registered and approved.decided_at == NOW
    assert isinstance(event, events.DelegateApproved) and event.previous.status == DelegateStatus.pending
    with pytest.raises(domain.NotPending):
        domain.approve(approved, now=NOW)
    with pytest.raises(domain.NotPending):
        domain.reject(approved, reason="late", now=NOW)
    rejected, rejection = domain.reject(delegate, reason="Not a member", now=NOW)
    assert rejected.rejection_reason == "Not a member" and rejection.status == DelegateStatus.rejected
    assert "Not a member" not in rejection.model_dump_json()
    with pytest.raises(domain.RegistrationRejected):
        domain.cancel(rejected, now=NOW)
    assert not domain.visible_to_anonymous(replace(delegate, listed_publicly=True))


async def test_a_refused_self_registration_gives_its_seat_back() -> None:
    uow = FakeRegistrationUnitOfWork()
    edition = await service.open_edition(uow=uow, request=EditionCreate(
        year=2026, starts_on=date(2026, 10, 20), ends_on=date(2026, 10, 22)))
    invited = await service.create_invitation(uow=uow, request=InvitationCreate(
        edition_id=edition.id, label="Delegation", seats=2, expires_at=datetime.now(UTC) + timedelta(days=1),
        country="MY"))
    body = SelfRegistration(invitation_code=invited.code, full_name="Li Wei", country="MY", email="li@example.org")
    first = await service.register_self(uow=uow, request=body)
    assert first.status == DelegateStatus.pending
    commits = uow.commits
    with pytest.raises(domain.DuplicateEmail):
        await service.register_self(uow=uow, request=body)
    with pytest.raises(domain.WrongDelegation):
        await service.register_self(uow=uow, request=body.model_copy(update={"country": "SG"}))
    assert uow.commits == commits and uow.tables.invitations[invited.id].used == 1
    await service.reject_delegate(uow=uow, delegate_id=first.id, reason="Duplicate")
    assert uow.tables.invitations[invited.id].used == 0
