"""The read model: last-seen entity state, counters, editions, and the platform tables.

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

COUNTERS = {
    "delegate_counts": (("edition_id", 36), ("country", 2), ("registered", "checked_in")),
    "project_sector_counts": (("edition_id", 36), ("sector", 30), ("signed", "amount_fen")),
    "project_country_counts": (("edition_id", 36), ("country", 2), ("projects", "amount_fen")),
}


def upgrade() -> None:
    create_platform_tables()
    op.create_table(
        "editions",
        sa.Column("edition_id", sa.String(36), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("host", sa.String(20), nullable=False),
        sa.Column("city", sa.String(100)),
        sa.Column("theme", sa.String(300)),
        sa.Column("starts_on", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint("edition_id", name="pk_editions"),
    )
    op.create_table(
        "seen_delegates",
        sa.Column("delegate_id", sa.String(36), nullable=False),
        sa.Column("edition_id", sa.String(36), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("delegate_id", name="pk_seen_delegates"),
    )
    op.create_table(
        "seen_projects",
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("edition_id", sa.String(36), nullable=False),
        sa.Column("sector", sa.String(30), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("countries", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("project_id", name="pk_seen_projects"),
    )
    op.create_table(
        "seen_organizations",
        sa.Column("organization_id", sa.String(36), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", name="pk_seen_organizations"),
    )
    for table, ((k1, n1), (k2, n2), columns) in COUNTERS.items():
        op.create_table(
            table,
            sa.Column(k1, sa.String(n1), nullable=False),
            sa.Column(k2, sa.String(n2), nullable=False),
            *(sa.Column(c, sa.BigInteger, nullable=False) for c in columns),
            sa.PrimaryKeyConstraint(k1, k2, name=f"pk_{table}"),
        )
    op.create_table(
        "network_counts",
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("organizations", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("country", name="pk_network_counts"),
    )
    op.create_table(
        "read_model_state",
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_read_model_state"),
    )


def downgrade() -> None:
    for table in ("read_model_state", "network_counts", *COUNTERS, "seen_organizations", "seen_projects",
                  "seen_delegates", "editions"):
        op.drop_table(table)
    drop_platform_tables()
