"""Projects, parties, the edition and organisation replicas, and the platform tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db.columns import MoneyType, RateType
from shared.db.migrations import create_platform_tables, drop_platform_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_platform_tables()
    op.create_table(
        "projects",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("edition_id", sa.String(36), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("sector", sa.String(30), nullable=False),
        sa.Column("amount", MoneyType(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("fx_rate_to_cny", RateType()),
        sa.Column("amount_cny", MoneyType(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("signed_on", sa.Date),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
    )
    op.create_index("ix_projects_edition_status_sector", "projects", ["edition_id", "status", "sector"])
    op.create_table(
        "project_parties",
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("organization_id", sa.String(36)),
        sa.PrimaryKeyConstraint("project_id", "position", name="pk_project_parties"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name="fk_project_parties_project_id_projects"),
    )
    op.create_table(
        "known_editions",
        sa.Column("edition_id", sa.String(36), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("host", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("edition_id", name="pk_known_editions"),
    )
    op.create_table(
        "known_organizations",
        sa.Column("organization_id", sa.String(36), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", name="pk_known_organizations"),
    )


def downgrade() -> None:
    for table in ("known_organizations", "known_editions", "project_parties", "projects"):
        op.drop_table(table)
    drop_platform_tables()
