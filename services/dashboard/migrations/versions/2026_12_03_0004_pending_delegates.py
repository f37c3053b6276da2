"""Pending self-registrations counted apart from registered delegates (issue 14).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every row before it counted approved delegates only: zero pending.
    op.add_column("delegate_counts", sa.Column("pending", sa.BigInteger(), nullable=False,
                                               server_default=sa.text("0")))


def downgrade() -> None:
    with op.batch_alter_table("delegate_counts") as batch:
        batch.drop_column("pending")
