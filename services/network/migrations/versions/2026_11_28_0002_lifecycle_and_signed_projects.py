"""Names unique among current members only; ``updated_at``; what each member signed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db.columns import MoneyType

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT = sa.text("status <> 'left'")


def upgrade() -> None:
    # Batch mode: SQLite cannot drop a constraint in place, so Alembic rebuilds the table there.
    with op.batch_alter_table("organizations") as batch:
        batch.drop_constraint("uq_organizations_country_name", type_="unique")
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True)))
    # An organisation that left frees its name: it (or a successor) can join again.
    op.create_index("uq_organizations_current_country_name", "organizations", ["country", "name_normalized"],
                    unique=True, postgresql_where=CURRENT, sqlite_where=CURRENT)
    op.create_table(
        "organization_projects",
        sa.Column("organization_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("edition_id", sa.String(36), nullable=False),
        sa.Column("title", sa.String(300)),
        sa.Column("sector", sa.String(30), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("amount_cny", MoneyType(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "project_id", name="pk_organization_projects"),
    )
    op.create_index("ix_organization_projects_project_id", "organization_projects", ["project_id"])


def downgrade() -> None:
    op.drop_index("ix_organization_projects_project_id", table_name="organization_projects")
    op.drop_table("organization_projects")
    op.drop_index("uq_organizations_current_country_name", table_name="organizations")
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("updated_at")
        batch.create_unique_constraint("uq_organizations_country_name", ["country", "name_normalized"])
