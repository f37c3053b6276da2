"""Registration use cases on in-memory repositories: the records they return, the events they commit,
and nothing committed when a rule says no."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from services.registration import domain, service
from services.registration.domain import EnrollmentState
from services.registration.schemas import (
    CheckInRequest,
    DelegateCreate,
    DelegateUpdate,
    EditionCreate,
    SessionCreate,
)
from shared.events import registration as events
from shared.events.types import DelegateCategory, DelegateStatus, Host
from tests.support.fakes.registration import FakeRegistrationUnitOfWork


@pytest.fixture
def uow() -> FakeRegistrationUnitOfWork:
    return FakeRegistrationUnitOfWork()


def edition_request(year: int = 2026, **changes: object) -> EditionCreate:
    body: dict[str, object] = {"year": year, "starts_on": date(year, 10, 20), "ends_on": date(year, 10, 22),
                               **changes}
    return EditionCreate.model_validate(body)


async def open_edition(uow: FakeRegistrationUnitOfWork, year: int = 2026) -> domain.Edition:
    return await service.open_edition(uow=uow, request=edition_request(year))


async def register(uow: FakeRegistrationUnitOfWork, edition: domain.Edition, email: str = "li.wei@example.org",
                   country: str = "MY") -> domain.Delegate:
    return await service.register_delegate(uow=uow, request=DelegateCreate(
        edition_id=edition.id, full_name="Li Wei", country=country, email=email, category=DelegateCategory.guest))


async def new_forum(uow: FakeRegistrationUnitOfWork, edition: domain.Edition, capacity: int) -> domain.Session:
    created = await service.create_session(uow=uow, request=SessionCreate(
        edition_id=edition.id, kind=domain.SessionKind.forum, title="Green energy forum", capacity=capacity,
        starts_at=datetime(2026, 10, 21, 1, 0, tzinfo=UTC)))
    return created.session


def enrollment_events(uow: FakeRegistrationUnitOfWork) -> list[tuple[str, str, str | None]]:
    return [(p.delegate_id, p.state, p.reason) for p in uow.committed_payloads
            if isinstance(p, events.SessionEnrollmentChanged)]


# -- editions -----------------------------------------------------------------------------------------------


async def test_editions_rotate_hosts_and_carry_co_hosts(uow: FakeRegistrationUnitOfWork) -> None:
    first = await service.open_edition(uow=uow, request=edition_request(2026, co_hosts=["A", "a", "B"]))
    second = await open_edition(uow, 2027)
    assert (first.number, first.host, first.co_hosts) == (1, Host.chongqing, ("A", "B"))
    assert (second.number, second.host, second.co_hosts) == (2, Host.sichuan, ("A", "B"))
    opened = uow.committed_payloads[1]
    assert isinstance(opened, events.EditionOpened)
    assert (opened.edition_id, opened.number, opened.co_hosts) == (second.id, 2, ["A", "B"])
    assert [e.subject for e in uow.committed_events] == [first.id, second.id]


async def test_an_edition_ending_before_it_starts_is_refused_and_nothing_committed(
        uow: FakeRegistrationUnitOfWork) -> None:
    with pytest.raises(domain.InvalidEditionDates):
        await service.open_edition(uow=uow, request=edition_request(ends_on=date(2026, 10, 19)))
    assert uow.commits == 0 and not uow.tables.editions


# -- delegates ----------------------------------------------------------------------------------------------


async def test_registering_returns_the_delegate_and_announces_it(uow: FakeRegistrationUnitOfWork) -> None:
    edition = await open_edition(uow)
    delegate = await register(uow, edition)
    assert delegate.status == DelegateStatus.registered and delegate.edition_id == edition.id
    assert len(delegate.badge_code) >= 20
    assert uow.committed_payloads[-1] == events.DelegateRegistered(
        delegate_id=delegate.id, edition_id=edition.id, country="MY", category=DelegateCategory.guest,
        status=DelegateStatus.registered, registered_at=delegate.registered_at)
    assert uow.committed_events[-1].subject == delegate.id


async def test_an_unknown_edition_or_a_taken_email_registers_nobody(uow: FakeRegistrationUnitOfWork) -> None:
    edition = await open_edition(uow)
    await register(uow, edition)
    commits = uow.commits
    with pytest.raises(domain.UnknownEdition):
        await register(uow, replace(edition, id="nope"))
    with pytest.raises(domain.DuplicateEmail):
        await register(uow, edition, email="LI.WEI@example.org")
    assert uow.commits == commits and len(uow.tables.delegates) == 1


async def test_a_corrected_city_is_saved_silently_a_new_country_is_announced(uow: FakeRegistrationUnitOfWork
                                                                             ) -> None:
    delegate = await register(uow, await open_edition(uow))
    before = len(uow.committed_events)
    moved = await service.update_delegate(uow=uow, delegate_id=delegate.id,
                                          request=DelegateUpdate(city="Chengdu"))
    assert moved.city == "Chengdu" and uow.tables.delegates[delegate.id] == moved
    assert len(uow.committed_events) == before
    corrected = await service.update_delegate(uow=uow, delegate_id=delegate.id, request=DelegateUpdate(country="SG"))
    assert corrected.country == "SG" and corrected.city == "Chengdu"
    assert uow.committed_payloads[-1] == events.DelegateUpdated(
        delegate_id=delegate.id, edition_id=delegate.edition_id, country="SG", category=DelegateCategory.guest,
        status=DelegateStatus.registered, registered_at=delegate.registered_at, previous=events.DelegatePrevious(
            country="MY", category=DelegateCategory.guest, status=DelegateStatus.registered))


async def test_a_cancelled_registration_is_closed(uow: FakeRegistrationUnitOfWork) -> None:
    delegate = await register(uow, await open_edition(uow))
    cancelled = await service.cancel_delegate(uow=uow, delegate_id=delegate.id)
    assert cancelled.status == DelegateStatus.cancelled and cancelled.cancelled_at is not None
    assert isinstance(uow.committed_payloads[-1], events.DelegateCancelled)
    commits = uow.commits
    with pytest.raises(domain.DelegateAlreadyCancelled):
        await service.cancel_delegate(uow=uow, delegate_id=delegate.id)
    with pytest.raises(domain.DelegateCancelled):
        await service.update_delegate(uow=uow, delegate_id=delegate.id, request=DelegateUpdate(city="Chengdu"))
    with pytest.raises(domain.DelegateNotFound):
        await service.cancel_delegate(uow=uow, delegate_id="nobody")
    assert uow.commits == commits and uow.tables.delegates[delegate.id] == cancelled


async def test_a_badge_checks_in_once_and_only_for_its_edition(uow: FakeRegistrationUnitOfWork) -> None:
    delegate = await register(uow, await open_edition(uow))
    with pytest.raises(domain.WrongEdition):
        await service.check_in(uow=uow, request=CheckInRequest(badge_code=delegate.badge_code, edition_id="other"))
    checked_in = await service.check_in(uow=uow, request=CheckInRequest(badge_code=delegate.badge_code))
    assert checked_in.status == DelegateStatus.checked_in and checked_in.checked_in_at is not None
    scanned = uow.committed_payloads[-1]
    assert isinstance(scanned, events.DelegateCheckedIn) and scanned.checked_in_at == checked_in.checked_in_at
    commits = uow.commits
    with pytest.raises(domain.AlreadyCheckedIn):
        await service.check_in(uow=uow, request=CheckInRequest(badge_code=delegate.badge_code))
    with pytest.raises(domain.BadgeNotFound):
        await service.check_in(uow=uow, request=CheckInRequest(badge_code="unknown"))
    assert uow.commits == commits


# -- sessions and enrolments --------------------------------------------------------------------------------


async def test_a_session_runs_during_its_known_edition(uow: FakeRegistrationUnitOfWork) -> None:
    edition = await open_edition(uow)
    request = SessionCreate(edition_id=edition.id, kind=domain.SessionKind.field_visit, title="Visit", capacity=5,
                            starts_at=datetime(2026, 10, 21, 1, 0, tzinfo=UTC))
    created = await service.create_session(uow=uow, request=request)
    assert (created.counts, created.available, created.session.capacity) == (domain.Counts(0, 0), 5, 5)
    with pytest.raises(domain.InvalidSessionStart):
        await service.create_session(uow=uow, request=request.model_copy(
            update={"starts_at": datetime(2027, 1, 1, tzinfo=UTC)}))
    with pytest.raises(domain.UnknownEdition):
        await service.create_session(uow=uow, request=request.model_copy(update={"edition_id": "nope"}))
    assert list(uow.tables.sessions) == [created.session.id]


async def test_a_full_session_wait_lists_and_asking_again_changes_nothing(uow: FakeRegistrationUnitOfWork) -> None:
    edition = await open_edition(uow)
    forum = await new_forum(uow, edition, capacity=1)
    first, second = await register(uow, edition, "a@example.org"), await register(uow, edition, "b@example.org")
    seated, created = await service.enroll(uow=uow, session_id=forum.id, delegate_id=first.id)
    assert created and (seated.state, seated.position, seated.enrolled, seated.waitlisted) == (
        EnrollmentState.enrolled, None, 1, 0)
    waiting, _ = await service.enroll(uow=uow, session_id=forum.id, delegate_id=second.id)
    assert (waiting.state, waiting.position, waiting.enrolled, waiting.waitlisted) == (
        EnrollmentState.waitlisted, 1, 1, 1)
    commits = uow.commits
    again, created = await service.enroll(uow=uow, session_id=forum.id, delegate_id=second.id)
    assert not created and again == waiting
    assert uow.commits == commits
    assert enrollment_events(uow) == [(first.id, "enrolled", "requested"), (second.id, "waitlisted", "requested")]


async def test_who_may_not_enrol(uow: FakeRegistrationUnitOfWork) -> None:
    edition = await open_edition(uow)
    forum = await new_forum(uow, edition, capacity=1)
    delegate = await register(uow, edition)
    with pytest.raises(domain.SessionNotFound):  # the session is named before the delegate is checked
        await service.enroll(uow=uow, session_id="nope", delegate_id="nobody")
    with pytest.raises(domain.UnknownDelegate):
        await service.enroll(uow=uow, session_id=forum.id, delegate_id="nobody")
    await service.cancel_delegate(uow=uow, delegate_id=delegate.id)
    with pytest.raises(domain.DelegateCancelled):
        await service.enroll(uow=uow, session_id=forum.id, delegate_id=delegate.id)
    assert not uow.tables.enrollments


async def test_a_withdrawal_hands_the_seat_to_the_first_in_the_queue(uow: FakeRegistrationUnitOfWork) -> None:
    edition = await open_edition(uow)
    forum = await new_forum(uow, edition, capacity=1)
    people = [await register(uow, edition, f"{n}@example.org") for n in range(3)]
    for person in people:
        await service.enroll(uow=uow, session_id=forum.id, delegate_id=person.id)
    withdrawal = await service.withdraw(uow=uow, session_id=forum.id, delegate_id=people[0].id)
    assert withdrawal == domain.Withdrawal(
        session_id=forum.id, delegate_id=people[0].id, previous_state=EnrollmentState.enrolled,
        promoted_delegate_id=people[1].id, enrolled=1, waitlisted=1, capacity=1)
    assert enrollment_events(uow)[-2:] == [(people[0].id, "withdrawn", "withdrawn"),
                                           (people[1].id, "enrolled", "promoted")]
    standings = await _standings(uow, forum.id)
    assert standings == [(people[1].id, EnrollmentState.enrolled, 1), (people[2].id, EnrollmentState.waitlisted, None)]
    with pytest.raises(domain.EnrollmentNotFound):
        await service.withdraw(uow=uow, session_id=forum.id, delegate_id=people[0].id)


async def test_cancelling_frees_the_places_before_announcing_the_cancellation(uow: FakeRegistrationUnitOfWork
                                                                               ) -> None:
    edition = await open_edition(uow)
    forums = [await new_forum(uow, edition, capacity=1) for _ in range(2)]
    leaving, waiting = await register(uow, edition, "a@example.org"), await register(uow, edition, "b@example.org")
    for forum in forums:
        for person in (leaving, waiting):
            await service.enroll(uow=uow, session_id=forum.id, delegate_id=person.id)
    already = len(uow.committed_payloads)
    await service.cancel_delegate(uow=uow, delegate_id=leaving.id)
    emitted = uow.committed_payloads[already:]
    first, second = sorted(f.id for f in forums)
    assert [(type(p).__name__, getattr(p, "session_id", None), getattr(p, "reason", None)) for p in emitted] == [
        ("SessionEnrollmentChanged", first, "delegate_cancelled"), ("SessionEnrollmentChanged", first, "promoted"),
        ("SessionEnrollmentChanged", second, "delegate_cancelled"), ("SessionEnrollmentChanged", second, "promoted"),
        ("DelegateCancelled", None, None)]
    assert all(e.delegate_id == waiting.id and e.state == EnrollmentState.enrolled for e in uow.tables.enrollments)


async def _standings(uow: FakeRegistrationUnitOfWork, session_id: str
                     ) -> list[tuple[str, EnrollmentState, int | None]]:
    return [(e.delegate_id, e.state, e.seat) for e in uow.tables.enrollments if e.session_id == session_id]
