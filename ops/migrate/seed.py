"""Seed data from its one declared place, `migrations/seed.sql` beside the migrations: run in one
transaction under the migration lock, on a schema at head, idempotent by the file's own rules.

`db.seed` runs it; `invoke up` and `db.reset` run it locally; the migration job runs it only when
the stack sets `pgstack:seed: true` (which reaches the job as MIGRATE_SEED=true).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.dberrors import error_line
from ops.errors import UserError
from ops.migrate.lock import Timeouts, migration_connection
from ops.migrate.revisions import MIGRATIONS_DIR, head_revision
from ops.migrate.state import detect
from ops.migrate.target import DatabaseTarget

Progress = Callable[[str], None]
SEED_FILE = MIGRATIONS_DIR / "seed.sql"
SEED_VARIABLE = "MIGRATE_SEED"  # the migration job's switch, set from the stack's pgstack:seed


@dataclass(frozen=True)
class SeedReport:
    """Rows this run inserted, per table (rows already there are not counted: they were skipped)."""

    inserted: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.inserted.values())

    def summary(self) -> str:
        if not self.total:
            return "seed data already present: nothing inserted"
        counts = ", ".join(f"{table} {rows}" for table, rows in sorted(self.inserted.items()))
        return f"seeded {self.total} rows: {counts}"


def seed_requested(value: str | None) -> bool:
    """MIGRATE_SEED's value as a switch; anything but true/false (or unset) is a UserError."""
    if value is None or value.strip() == "":
        return False
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise UserError(f"{SEED_VARIABLE} must be true or false (got {value!r})")


def seed(
    target: DatabaseTarget,
    progress: Progress = print,
    timeouts: Timeouts | None = None,
    path: Path = SEED_FILE,
) -> SeedReport:
    """Run the seed file on `target`'s schema; refuses a schema that is not at head."""
    timeouts = timeouts or Timeouts()
    try:
        script = path.read_text()
    except FileNotFoundError:
        raise UserError(f"no seed data: {path} does not exist (write it, or skip seeding)") from None
    head = head_revision()
    schema = target.schema
    with migration_connection(target, timeouts, progress) as connection:
        found = detect(connection, schema)
        if found.revision != head:
            at = found.revision or found.state.value
            raise UserError(
                f"schema {schema!r} is at {at}, not at head {head}: the seed data is written for the "
                "head schema; run `invoke db.migrate` first (nothing was inserted)"
            )
        connection.rollback()
        progress(f"seeding schema {schema!r} from {path.name}")
        # The driver's own connection: the file holds many statements, which psycopg runs in one
        # simple-protocol round trip only when it is handed the text without parameters.
        driver = connection.connection.driver_connection
        assert driver is not None  # noqa: S101 - a live connection always has one
        try:
            with connection.begin():
                connection.execute(text("SELECT set_config('search_path', :s, true)"), {"s": schema})
                driver.execute(script.encode())
                rows = connection.execute(
                    text(
                        "SELECT relname, n_tup_ins FROM pg_stat_xact_user_tables "
                        "WHERE schemaname = :s AND n_tup_ins > 0"
                    ),
                    {"s": schema},
                ).all()
        except (DBAPIError, psycopg.Error) as exc:
            raise UserError(
                f"{path.name} failed and was rolled back (nothing was inserted): {error_line(exc)}"
            ) from None
    report = SeedReport({str(name): int(count) for name, count in rows})
    progress(report.summary())
    return report
