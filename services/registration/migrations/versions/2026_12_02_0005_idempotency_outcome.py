"""Idempotency keys store their outcome in the write's transaction: the answer's headers and an expiry.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from shared.db.migrations import add_idempotency_outcome, drop_idempotency_outcome

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_idempotency_outcome()


def downgrade() -> None:
    drop_idempotency_outcome()
