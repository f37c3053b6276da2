"""The editions' last day, so that the live page knows the conference days (its timeline per ten minutes).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows read before stay null until a rebuild replays their edition_opened.
    op.add_column("editions", sa.Column("ends_on", sa.String(10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("editions") as batch:
        batch.drop_column("ends_on")
