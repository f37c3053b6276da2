"""Every dashboard replica's live page moves when any replica applies events: a commit that changes the
read model (read_model_state is written with every applied change) notifies READ_MODEL_CHANNEL.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from services.dashboard.models import READ_MODEL_CHANNEL
from shared.db.migrations import create_notify_trigger, drop_notify_trigger

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_notify_trigger("read_model_notify", "read_model_state", READ_MODEL_CHANNEL, after="INSERT OR UPDATE")


def downgrade() -> None:
    drop_notify_trigger("read_model_notify", "read_model_state")
