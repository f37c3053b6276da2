"""Co-hosts of an edition; forums and field visits with seat-numbered enrolments.

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

AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("editions", sa.Column("co_hosts", sa.JSON, nullable=False, server_default=sa.text("'[]'")))
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("edition_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
        sa.ForeignKeyConstraint(["edition_id"], ["editions.id"], name="fk_sessions_edition_id_editions"),
        sa.CheckConstraint("capacity >= 1", name=op.f("ck_sessions_capacity_positive")),
        sa.CheckConstraint("kind IN ('forum', 'field_visit')", name=op.f("ck_sessions_kind")),
        sa.UniqueConstraint("id", "capacity", name="uq_sessions_id_capacity"),
    )
    op.create_index("ix_sessions_edition_id", "sessions", ["edition_id"])
    op.create_table(
        "enrollments",
        sa.Column("id", AUTO_ID, nullable=False, autoincrement=True),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("session_capacity", sa.Integer, nullable=False),
        sa.Column("delegate_id", sa.String(36), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("seat", sa.Integer),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_enrollments"),
        sa.ForeignKeyConstraint(["session_id", "session_capacity"], ["sessions.id", "sessions.capacity"],
                                name="fk_enrollments_session_capacity", onupdate="CASCADE"),
        sa.ForeignKeyConstraint(["delegate_id"], ["delegates.id"], name="fk_enrollments_delegate_id_delegates"),
        sa.UniqueConstraint("session_id", "delegate_id", name="uq_enrollments_session_delegate"),
        sa.UniqueConstraint("session_id", "seat", name="uq_enrollments_session_seat"),
        sa.CheckConstraint("(state = 'enrolled' AND seat IS NOT NULL AND seat BETWEEN 1 AND session_capacity) OR "
                           "(state = 'waitlisted' AND seat IS NULL)", name=op.f("ck_enrollments_seat_within_capacity")),
    )
    op.create_index("ix_enrollments_session_state_id", "enrollments", ["session_id", "state", "id"])
    op.create_index("ix_enrollments_delegate_id", "enrollments", ["delegate_id"])


def downgrade() -> None:
    op.drop_table("enrollments")
    op.drop_table("sessions")
    with op.batch_alter_table("editions") as batch:
        batch.drop_column("co_hosts")
