"""A unit of work on PostgreSQL whose only write is its last: the row and its event commit as one statement,
without BEGIN and COMMIT, and a refused write leaves nothing behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from devkit import stack
from services.registration import domain, service
from services.registration.app import SERVICE_DIR
from services.registration.domain import Delegate
from services.registration.models import delegates
from services.registration.models import platform as tables
from services.registration.repository import SqlRegistrationUnitOfWork
from services.registration.schemas import DelegateCreate, EditionCreate
from shared.db.engine import database_unreachable, make_engine
from shared.db.migrations import migrate
from shared.events.registration import DelegateRegistered
from shared.events.types import DelegateCategory
from shared.messaging.outbox import Outbox

pytestmark = pytest.mark.postgres


@pytest.fixture
async def engine(postgres_env: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    url = (await stack.fresh_databases(postgres_env))["registration"]
    await migrate(SERVICE_DIR, url)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


def new_uow(engine: AsyncEngine) -> SqlRegistrationUnitOfWork:
    return SqlRegistrationUnitOfWork(engine, Outbox("registration", tables))


async def counts(engine: AsyncEngine) -> tuple[int, int]:
    """Delegates and outbox rows, as another connection sees them."""
    async with engine.connect() as conn:
        return ((await conn.execute(select(func.count()).select_from(delegates))).scalar_one(),
                (await conn.execute(select(func.count()).select_from(tables.outbox))).scalar_one())


async def open_edition(engine: AsyncEngine) -> str:
    edition = await service.open_edition(uow=new_uow(engine), request=EditionCreate(
        year=2030, starts_on=date(2030, 7, 30), ends_on=date(2030, 7, 31)))
    return edition.id


def registration(edition_id: str, email: str = "amina@example.org") -> DelegateCreate:
    return DelegateCreate(edition_id=edition_id, full_name="Amina Rahman", country="MY", email=email,
                          category="guest")


def new_delegate(edition_id: str) -> tuple[Delegate, DelegateRegistered]:
    return domain.register(edition_id=edition_id, full_name="Amina Rahman", name_zh=None, country="MY", city=None,
                           organization=None, email="amina@example.org", phone=None,
                           category=DelegateCategory.guest, now=datetime.now(UTC))


@pytest.mark.parametrize("last_write", [True, False], ids=["last write", "not the last"])
async def test_a_last_write_is_committed_as_it_runs_and_any_other_at_the_commit(engine: AsyncEngine,
                                                                               last_write: bool) -> None:
    edition_id = await open_edition(engine)
    before = await counts(engine)
    after = (before[0] + 1, before[1] + 1)
    delegate, event = new_delegate(edition_id)
    async with new_uow(engine) as uow:
        uow.emit(event, subject=delegate.id)
        await uow.delegates.add(delegate, last_write=last_write)
        # A last write is visible to another connection before commit(): it ran alone, in no transaction.
        assert await counts(engine) == (after if last_write else before)
        await uow.commit()
    assert await counts(engine) == after


async def test_a_refused_last_write_leaves_nothing(engine: AsyncEngine) -> None:
    edition_id = await open_edition(engine)
    await service.register_delegate(uow=new_uow(engine), request=registration(edition_id))
    before = await counts(engine)
    with pytest.raises(domain.DuplicateEmail):
        await service.register_delegate(uow=new_uow(engine), request=registration(edition_id))
    with pytest.raises(domain.UnknownEdition):
        await service.register_delegate(uow=new_uow(engine), request=registration("no-such-edition", "b@example.org"))
    assert await counts(engine) == before
    # The connections went back to the pool in their usual mode.
    async with engine.connect() as conn:
        assert (await conn.get_isolation_level()) != "AUTOCOMMIT"


async def test_an_event_emitted_after_the_last_write_is_refused(engine: AsyncEngine) -> None:
    edition_id = await open_edition(engine)
    delegate, event = new_delegate(edition_id)
    async with new_uow(engine) as uow:
        uow.emit(event, subject=delegate.id)
        await uow.delegates.add(delegate, last_write=True)
        uow.emit(event, subject=delegate.id)
        with pytest.raises(RuntimeError, match="after the unit of work's last write"):
            await uow.commit()


async def test_a_last_write_on_a_broken_connection_is_an_outage_and_the_connection_is_not_reused(
        engine: AsyncEngine) -> None:
    edition_id = await open_edition(engine)
    delegate, event = new_delegate(edition_id)
    async with new_uow(engine) as uow:
        driver = (await uow.conn.get_raw_connection()).driver_connection
        assert driver is not None
        async with engine.connect() as other:  # the server ends this connection's backend (a restart would)
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": driver.get_server_pid()})
        uow.emit(event, subject=delegate.id)
        with pytest.raises(DBAPIError) as raised:
            await uow.delegates.add(delegate, last_write=True)
        assert database_unreachable(raised.value)  # answered 503, not 500 (shared.http.problems)
        assert "amina@example.org" not in str(raised.value)  # parameters hidden: no personal data in logs
    # The pool does not hand the dead connection out again: the next registration goes through.
    before = await counts(engine)
    await service.register_delegate(uow=new_uow(engine), request=registration(edition_id, "next@example.org"))
    assert await counts(engine) == (before[0] + 1, before[1] + 1)
