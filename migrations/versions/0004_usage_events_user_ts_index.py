"""Index usage_events by user and time, built concurrently: a user's usage is read by time range.

Revision ID: 0004_usage_events_user_ts_index
Revises: 0003_users_last_login
Create Date: 2026-11-28

usage_events takes a row per API call, so a plain CREATE INDEX would block every call's insert for
the whole build. CONCURRENTLY lets writes through; it cannot run in a transaction, hence the
autocommit block (the migrator keeps its lock and gives the block MIGRATE_CONCURRENT_STATEMENT_TIMEOUT).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004_usage_events_user_ts_index"
down_revision: str | Sequence[str] | None = "0003_users_last_login"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_usage_events_user_id_ts"


def upgrade() -> None:
    with op.get_context().autocommit_block():
        # A build that failed (cancelled, timed out) left an INVALID index of this name: a rerun
        # drops it and builds again.
        op.drop_index(INDEX, table_name="usage_events", postgresql_concurrently=True, if_exists=True)
        op.create_index(
            INDEX, "usage_events", ["user_id", "ts"], postgresql_concurrently=True, if_not_exists=True
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(INDEX, table_name="usage_events", postgresql_concurrently=True, if_exists=True)
