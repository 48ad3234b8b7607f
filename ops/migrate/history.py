"""The migration history table in DB_SCHEMA: every baseline, stamp, upgrade, downgrade and repair,
with the sha256 of the revision file so a revision edited after it was applied is caught (as Flyway
does), and a repair (an edit accepted, with its reason) is on record."""

from __future__ import annotations

import getpass
import hashlib
import socket
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, text

if TYPE_CHECKING:  # Alembic (~0.3 s to import) only where it runs: `env.up`'s grants need none of it
    from alembic.runtime.migration import MigrationContext, MigrationInfo

HISTORY_TABLE = "pgstack_migration_history"
Action = Literal["baseline", "stamp", "upgrade", "downgrade", "repair"]
# The actions after which a revision counts as applied with the checksum recorded in that row.
APPLYING = ("baseline", "upgrade", "stamp", "repair")
BASELINE_REVISION = "0001_baseline"

# Unqualified: every caller runs with search_path set to DB_SCHEMA on its direct connection.
_CREATE = """
CREATE TABLE IF NOT EXISTS pgstack_migration_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action text NOT NULL CONSTRAINT pgstack_migration_history_action_check
        CHECK (action IN ('baseline', 'stamp', 'upgrade', 'downgrade', 'repair')),
    revision text NOT NULL,
    description text NOT NULL,
    checksum text,
    applied_at timestamptz NOT NULL DEFAULT now(),
    applied_by text NOT NULL,
    duration_ms integer NOT NULL,
    success boolean NOT NULL
)
"""

_INSERT = """
INSERT INTO pgstack_migration_history
    (action, revision, description, checksum, applied_by, duration_ms, success)
VALUES (:action, :revision, :description, :checksum, :applied_by, :duration_ms, :success)
"""


@dataclass(frozen=True)
class HistoryEntry:
    """One recorded action."""

    id: int
    action: str
    revision: str
    description: str
    checksum: str | None
    applied_at: datetime
    applied_by: str
    duration_ms: int
    success: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**self.__dict__, "applied_at": self.applied_at.isoformat()}


def file_checksum(path: str | Path) -> str:
    """sha256 of a revision file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def applied_by() -> str:
    """Who is migrating: OS user and host, shown in history and in lock-wait messages."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # containers may run as a uid without a passwd entry
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def ensure_table(connection: Connection) -> None:
    """Create the history table in the current schema if it is missing."""
    connection.execute(text(_CREATE))


def allow_repairs(connection: Connection) -> None:
    """Widen the action check of a history table created before `repair` existed (current schema)."""
    definition = connection.execute(
        text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = "
            "'pgstack_migration_history'::regclass AND conname = 'pgstack_migration_history_action_check'"
        )
    ).scalar()
    if definition is None or "'repair'" in definition:
        return
    connection.execute(
        text(
            "ALTER TABLE pgstack_migration_history "
            "DROP CONSTRAINT pgstack_migration_history_action_check, "
            "ADD CONSTRAINT pgstack_migration_history_action_check "
            "CHECK (action IN ('baseline', 'stamp', 'upgrade', 'downgrade', 'repair'))"
        )
    )


def has_table(connection: Connection, schema: str) -> bool:
    """True when `schema` already holds the history table."""
    found = connection.execute(
        text("SELECT to_regclass(format('%I.%I', CAST(:schema AS text), CAST(:table AS text)))"),
        {"schema": schema, "table": HISTORY_TABLE},
    ).scalar()
    return found is not None


def record(
    connection: Connection,
    *,
    action: Action,
    revision: str,
    description: str,
    checksum: str | None,
    duration_s: float,
    success: bool = True,
) -> None:
    """Insert one history row in the connection's current transaction."""
    connection.execute(
        text(_INSERT),
        {
            "action": action,
            "revision": revision,
            "description": description,
            "checksum": checksum,
            "applied_by": applied_by(),
            "duration_ms": round(duration_s * 1000),
            "success": success,
        },
    )


def entries(connection: Connection, schema: str) -> list[HistoryEntry]:
    """Every recorded action in `schema`, oldest first (empty when the table does not exist)."""
    if not has_table(connection, schema):
        return []
    columns = "id, action, revision, description, checksum, applied_at, applied_by, duration_ms, success"
    query = f'SELECT {columns} FROM "{schema}".pgstack_migration_history ORDER BY id'  # noqa: S608 - validated identifier
    rows = connection.execute(text(query))
    return [HistoryEntry(*row) for row in rows]


class StepRecorder:
    """Alembic `on_version_apply` callback: one history row per step, in the step's transaction,
    so a revision and its history row commit (or vanish) together."""

    def __init__(self, note: str = "") -> None:
        self._since = time.monotonic()
        # e.g. "verified stamp, fingerprint ...", appended to the description; env.py sets it once the
        # plain `alembic stamp` has verified the schema.
        self.note = note
        self.last: str | None = None  # the last revision recorded: where a run got to

    def __call__(
        self,
        ctx: MigrationContext,
        step: MigrationInfo,
        heads: Collection[Any],
        run_args: Mapping[str, Any],
    ) -> None:
        """Record the step just applied (Alembic's `on_version_apply` signature)."""
        from alembic.script import Script

        del heads, run_args  # part of Alembic's callback signature, not needed here
        now = time.monotonic()
        # Upgrade, downgrade or stamp: up_revision_id is the revision applied, undone or stamped.
        script = step.revision_map.get_revision(step.up_revision_id)
        if not isinstance(script, Script) or ctx.connection is None:
            return  # a stamp down to base, or `--sql` output: nothing to record
        action: Action = "downgrade"
        if step.is_stamp:
            action = "stamp"
        elif step.is_upgrade:
            action = "baseline" if script.revision == BASELINE_REVISION else "upgrade"
        record(
            ctx.connection,
            action=action,
            revision=script.revision,
            description=" - ".join(part for part in (script.doc or "", self.note) if part),
            checksum=file_checksum(script.path) if script.path else None,
            duration_s=now - self._since,
        )
        self.last = script.revision
        self._since = time.monotonic()
