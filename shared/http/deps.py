"""FastAPI dependencies every service uses (``Annotated`` aliases, as in the FastAPI template)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.http.auth import current_roles
from shared.http.context import ServiceContext
from shared.messaging.outbox import UnitOfWork


def get_context(request: Request) -> ServiceContext:
    context: ServiceContext = request.app.state.context
    return context


async def read_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    async with get_context(request).read_engine.connect() as conn:
        yield conn


def new_uow(request: Request) -> UnitOfWork:
    return get_context(request).uow()


ContextDep = Annotated[ServiceContext, Depends(get_context)]
ReadConnDep = Annotated[AsyncConnection, Depends(read_connection)]
UowDep = Annotated[UnitOfWork, Depends(new_uow)]
RolesDep = Annotated[frozenset[str], Depends(current_roles)]
