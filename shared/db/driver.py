"""A SQLAlchemy statement compiled once for PostgreSQL and run straight on its asyncpg connection.

For the busiest write only (a registration's one statement, run in AUTOCOMMIT): SQLAlchemy's execution
context — the compiled cache's lookup, the parameters' construction, the result's wrapping — took about a
third of that statement's CPU, ≈ 100 µs a request. Everything else SQLAlchemy gives still holds: the
statement is SQLAlchemy's, compiled by its dialect; the parameters pass its column types' bind processors;
errors are raised as SQLAlchemy raises them (``IntegrityError`` for a constraint, ``DBAPIError`` else,
parameters hidden), so callers and the problem handlers see no difference; and a connection that broke is
invalidated, so the pool never hands it out again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from shared.db.engine import UNREACHABLE_STATES


class DriverStatement:
    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self.sql = compiled.string
        self._names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self._processors: dict[str, Callable[[Any], Any]] = {}
        for name in self._names:
            processor = compiled.binds[name].type.bind_processor(dialect)
            if processor is not None:
                self._processors[name] = processor

    async def execute_alone(self, conn: AsyncConnection, parameters: Mapping[str, Any]) -> None:
        """Run the statement on ``conn``'s asyncpg connection, which must be in AUTOCOMMIT with nothing
        begun (SQLAlchemy would not know of a transaction opened under it)."""
        processors = self._processors
        args = [processors[n](parameters[n]) if n in processors else parameters[n] for n in self._names]
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        try:
            await driver.execute(self.sql, *args)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(self.sql, None, exc, hide_parameters=True) from exc
        except asyncpg.PostgresError as exc:
            broken = str(exc.sqlstate).startswith(UNREACHABLE_STATES)
            if broken:
                await conn.invalidate()
            raise DBAPIError(self.sql, None, exc, hide_parameters=True, connection_invalidated=broken) from exc
        except (OSError, asyncpg.InterfaceError, asyncpg.InternalClientError) as exc:
            # The connection broke under the statement (a terminated backend can also leave asyncpg's
            # protocol mid-operation: InternalClientError): not reusable, and an outage for the caller.
            await conn.invalidate()
            raise DBAPIError(self.sql, None, exc, hide_parameters=True, connection_invalidated=True) from exc
