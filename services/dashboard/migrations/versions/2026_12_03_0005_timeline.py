"""The timeline: registrations and check-ins per day and per ten minutes (issue 14).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Delegates seen before keep no times: they stay off the timeline until a rebuild reads events that carry them.
    op.add_column("seen_delegates", sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("seen_delegates", sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "timeline_counts",
        sa.Column("edition_id", sa.String(36), primary_key=True),
        sa.Column("span", sa.String(10), primary_key=True),
        sa.Column("bucket_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("registered", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("checked_in", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
    )


def downgrade() -> None:
    op.drop_table("timeline_counts")
    with op.batch_alter_table("seen_delegates") as batch:
        batch.drop_column("checked_in_at")
        batch.drop_column("registered_at")
