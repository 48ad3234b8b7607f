"""Baseline: the historical bootstrap schema from migrations/legacy/*.sql.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-11-21

On an empty schema this replays the legacy SQL. A database bootstrapped from those files before
Alembic is not replayed: `db.migrate` verifies its fingerprint against this revision and stamps it.
"""

from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0001_baseline"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEGACY_SQL = Path(__file__).resolve().parent.parent / "legacy"
# Reverse dependency order: children before the users table they reference.
TABLES = ("usage_events", "events", "oauth_tokens", "sessions", "users")


def upgrade() -> None:
    for script in sorted(LEGACY_SQL.glob("*.sql")):
        op.execute(script.read_text())


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
