"""Invitations per delegation and the approval of self-registrations (issue 14).

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
    op.create_table(
        "invitations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("edition_id", sa.String(36), sa.ForeignKey("editions.id", name="fk_invitations_edition_id_editions"),
                  nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("organization", sa.String(200), nullable=True),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("code", name="uq_invitations_code"),
        sa.CheckConstraint("seats >= 1", name="ck_invitations_invitation_seats_positive"),
        sa.CheckConstraint("used >= 0 AND used <= seats", name="ck_invitations_invitation_not_oversold"),
    )
    op.create_index("ix_invitations_edition_id", "invitations", ["edition_id"])
    # Existing delegates were registered by staff: approved, with no invitation.
    with op.batch_alter_table("delegates") as batch:
        batch.add_column(sa.Column("invitation_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("rejection_reason", sa.String(500), nullable=True))
        batch.create_foreign_key("fk_delegates_invitation_id_invitations", "invitations", ["invitation_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("delegates") as batch:
        batch.drop_constraint("fk_delegates_invitation_id_invitations", type_="foreignkey")
        batch.drop_column("rejection_reason")
        batch.drop_column("decided_at")
        batch.drop_column("invitation_id")
    op.drop_index("ix_invitations_edition_id", "invitations")
    op.drop_table("invitations")
