"""Organisations and the platform tables.

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
        "organizations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_normalized", sa.String(200), nullable=False),
        sa.Column("name_zh", sa.String(100)),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("city", sa.String(100)),
        sa.Column("website", sa.String(300)),
        sa.Column("contact_email", sa.String(254)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_organizations"),
        sa.UniqueConstraint("country", "name_normalized", name="uq_organizations_country_name"),
    )
    op.create_index("ix_organizations_status_country", "organizations", ["status", "country"])


def downgrade() -> None:
    op.drop_table("organizations")
    drop_platform_tables()
