"""PostgreSQL: the outbox wakes its relay from a trigger, not an extra NOTIFY statement per write.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from shared.db.migrations import create_outbox_notify_trigger, drop_outbox_notify_trigger

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_outbox_notify_trigger("projects")


def downgrade() -> None:
    drop_outbox_notify_trigger()
