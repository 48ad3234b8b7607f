"""Test-only revision: adds a column, then sleeps, so a test can kill the migrator mid-revision.

Revision ID: 0005_slow_for_tests
Revises: 0004_usage_events_user_ts_index
Create Date: 2026-11-21
"""

import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_slow_for_tests"
down_revision: str | Sequence[str] | None = "0004_usage_events_user_ts_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("slow_marker", sa.Text(), nullable=True))
    seconds = float(os.environ.get("PGSTACK_TEST_SLOW_SECONDS", "0"))
    op.execute(sa.text("SELECT pg_sleep(:seconds)").bindparams(seconds=seconds))


def downgrade() -> None:
    op.drop_column("users", "slow_marker")
