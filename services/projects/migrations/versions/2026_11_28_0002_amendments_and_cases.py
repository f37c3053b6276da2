"""Amendments (``amended_at``), the Top-10 cases with one featured case per rank, a parties' country index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FEATURED = sa.text("status = 'featured'")


def upgrade() -> None:
    op.add_column("projects", sa.Column("amended_at", sa.DateTime(timezone=True)))
    op.create_index("ix_project_parties_country", "project_parties", ["country"])
    op.create_table(
        "cases",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("edition_id", sa.String(36), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("sector", sa.String(30), nullable=False),
        sa.Column("enterprise", sa.String(200), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("summary", sa.String(4000), nullable=False),
        sa.Column("project_id", sa.String(36)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unfeatured_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name="fk_cases_project_id_projects"),
        sa.CheckConstraint("rank BETWEEN 1 AND 10", name="ck_cases_rank_1_to_10"),
    )
    # Partial unique index: only *featured* cases compete for a rank (PostgreSQL and SQLite both
    # support partial indexes).
    op.create_index("uq_cases_featured_edition_rank", "cases", ["edition_id", "rank"], unique=True,
                    postgresql_where=FEATURED, sqlite_where=FEATURED)


def downgrade() -> None:
    op.drop_index("uq_cases_featured_edition_rank", table_name="cases")
    op.drop_table("cases")
    op.drop_index("ix_project_parties_country", table_name="project_parties")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("amended_at")
