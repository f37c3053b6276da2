"""Alembic for every service: running a service's migrations, and the helpers its env.py and first
migrations share."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.db.engine import prepare_sqlite_file
from shared.db.sqlite import inline_url
from shared.db.tables import AUTO_ID


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's ``migrations/env.py`` (online, async engine)."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is set by shared.db.migrations.run_migrations"
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    def do_run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(inline_url(url))
        try:
            async with engine.connect() as connection:
                await connection.run_sync(do_run)
                await connection.commit()
        finally:
            await engine.dispose()

    asyncio.run(main())


def create_platform_tables() -> None:
    """Version 1 of the outbox, inbox and idempotency tables, used by each service's first migration."""
    op.create_table(
        "outbox",
        sa.Column("id", AUTO_ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
    )
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_processed_events"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("response_body", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_idempotency_keys"),
    )


def add_idempotency_outcome() -> None:
    """Version 2 of ``idempotency_keys``: the stored answer's headers and an expiry. Keys are now stored
    hashed, so rows of version 1 can never match again: they are dropped here (they are at most a day of
    replays; a claim left by a crash under version 1 would not be replayed anyway)."""
    op.execute("DELETE FROM idempotency_keys")
    op.add_column("idempotency_keys", sa.Column("response_headers", sa.Text, nullable=True))
    op.add_column("idempotency_keys", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])


def drop_idempotency_outcome() -> None:
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("response_headers")


def drop_platform_tables() -> None:
    for table in ("idempotency_keys", "processed_events", "outbox"):
        op.drop_table(table)


def create_notify_trigger(name: str, table: str, channel: str, *, after: str = "INSERT") -> None:
    """PostgreSQL: NOTIFY ``channel`` from a trigger (function and trigger called ``name``) after each
    statement that does ``after`` on ``table`` (shared.db.notifications listens).

    Delivered at commit like an explicit NOTIFY, but without a round trip of its own on every write.
    """
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
        CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify(TG_ARGV[0], '');
            RETURN NULL;
        END $$""")
    op.execute(f"CREATE TRIGGER {name} AFTER {after} ON {table} FOR EACH STATEMENT "
               f"EXECUTE FUNCTION {name}('{channel}')")


def drop_notify_trigger(name: str, table: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    op.execute(f"DROP FUNCTION IF EXISTS {name}()")


def create_outbox_notify_trigger(service: str) -> None:
    """PostgreSQL: NOTIFY the relay when outbox rows are inserted."""
    create_notify_trigger("outbox_notify", "outbox", f"outbox_{service}")


def drop_outbox_notify_trigger() -> None:
    drop_notify_trigger("outbox_notify", "outbox")


def run_migrations(service_dir: Path, database_url: str) -> None:
    """``alembic upgrade head`` for one service (blocking; the env.py runs its own event loop)."""
    from alembic import command

    command.upgrade(_alembic_config(service_dir, database_url), "head")


def recreate_schema(service_dir: Path, database_url: str) -> None:
    """Drop every table of a service (``alembic downgrade base``) and create them again, empty."""
    from alembic import command

    config = _alembic_config(service_dir, database_url)
    command.downgrade(config, "base")
    command.upgrade(config, "head")


def _alembic_config(service_dir: Path, database_url: str) -> Any:
    from alembic.config import Config

    prepare_sqlite_file(database_url)
    config = Config(str(service_dir / "alembic.ini"))
    config.set_main_option("script_location", str(service_dir / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


async def migrate(service_dir: Path, database_url: str) -> None:
    await asyncio.to_thread(run_migrations, service_dir, database_url)
