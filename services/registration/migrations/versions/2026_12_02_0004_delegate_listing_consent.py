"""Delegates' consent to the public list: private by default, so every existing delegate is unlisted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NOT NULL with a server default: rows registered before consent was asked read false.
    op.add_column("delegates", sa.Column("listed_publicly", sa.Boolean(), nullable=False,
                                         server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("delegates") as batch:
        batch.drop_column("listed_publicly")
