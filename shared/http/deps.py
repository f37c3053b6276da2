"""FastAPI dependencies every service uses (``Annotated`` aliases, as in the FastAPI template).

Every dependency is ``async def``: FastAPI runs a plain ``def`` dependency in its thread pool, a thread
hop per request (a tenth of the write path's time under load, py-spy) for what is an attribute read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.http.auth import current_roles
from shared.http.context import ServiceContext
from shared.messaging.outbox import UnitOfWork

U = TypeVar("U", bound=UnitOfWork)


def get_context(request: Request) -> ServiceContext:
    context: ServiceContext = request.app.state.context
    return context


async def context_dependency(request: Request) -> ServiceContext:
    return get_context(request)


async def read_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    async with get_context(request).read_engine.connect() as conn:
        yield conn


def unit_of_work(factory: type[U]) -> Callable[[Request], Awaitable[U]]:
    """A dependency giving each request a fresh unit of work of the service's own kind (its
    repositories on the transaction): ``Annotated[SqlXUnitOfWork, Depends(unit_of_work(SqlXUnitOfWork))]``."""
    async def build(request: Request) -> U:
        context = get_context(request)
        return factory(context.engine, context.outbox)

    return build


ContextDep = Annotated[ServiceContext, Depends(context_dependency)]
ReadConnDep = Annotated[AsyncConnection, Depends(read_connection)]
RolesDep = Annotated[frozenset[str], Depends(current_roles)]
