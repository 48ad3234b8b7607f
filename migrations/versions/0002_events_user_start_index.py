"""Index events by user and start time: a user's agenda is read by time range.

Revision ID: 0002_events_user_start_index
Revises: 0001_baseline
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_events_user_start_index"
down_revision: str | Sequence[str] | None = "0001_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_events_user_id_start_ts", "events", ["user_id", "start_ts"])


def downgrade() -> None:
    op.drop_index("ix_events_user_id_start_ts", table_name="events")
