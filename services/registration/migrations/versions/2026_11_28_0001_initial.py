"""Editions, delegates and the platform tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db.migrations import create_platform_tables, drop_platform_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_platform_tables()
    op.create_table(
        "editions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("host", sa.String(20), nullable=False),
        sa.Column("city", sa.String(100)),
        sa.Column("theme", sa.String(300)),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("ends_on", sa.Date, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_editions"),
        sa.UniqueConstraint("number", name="uq_editions_number"),
    )
    op.create_table(
        "delegates",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("edition_id", sa.String(36), nullable=False),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("name_zh", sa.String(100)),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("city", sa.String(100)),
        sa.Column("organization", sa.String(200)),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("email_normalized", sa.String(254), nullable=False),
        sa.Column("phone", sa.String(40)),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("badge_code", sa.String(64), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True)),
        sa.Column("checked_in_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_delegates"),
        sa.ForeignKeyConstraint(["edition_id"], ["editions.id"], name="fk_delegates_edition_id_editions"),
        sa.UniqueConstraint("badge_code", name="uq_delegates_badge_code"),
        sa.UniqueConstraint("edition_id", "email_normalized", name="uq_delegates_edition_email"),
    )
    op.create_index("ix_delegates_edition_status_country", "delegates", ["edition_id", "status", "country"])


def downgrade() -> None:
    op.drop_table("delegates")
    op.drop_table("editions")
    drop_platform_tables()
