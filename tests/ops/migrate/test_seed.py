"""Seed data: loaded from migrations/seed.sql on a schema at head, idempotent against itself and
against rows that were already there, all or nothing, and run by the migration job only on request."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest

from app.urls import libpq_dsn
from ops.errors import UserError
from ops.local.native import LocalEnv
from ops.migrate.migrator import migrate
from ops.migrate.seed import SEED_FILE, seed
from ops.migrate.target import DatabaseTarget
from tests.support import TestDatabase
from tests.support.tasks import run_job, run_task

TABLES = ("users", "sessions", "oauth_tokens", "events", "usage_events")


def _quiet(_: str) -> None:
    """Progress sink."""


def counts(conn: psycopg.Connection, schema: str) -> dict[str, int]:
    """Rows per table of the app's schema."""
    result = {}
    for table in TABLES:
        row = conn.execute(f'SELECT count(*) FROM "{schema}".{table}').fetchone()  # noqa: S608 - fixed names
        assert row is not None
        result[table] = int(row[0])
    return result


def test_seed_loads_a_small_realistic_set_once(target: DatabaseTarget, sql_conn: psycopg.Connection) -> None:
    """The first run fills every legacy table; a second run inserts nothing and changes nothing."""
    migrate(target, progress=_quiet)
    first = seed(target, progress=_quiet)
    after_first = counts(sql_conn, target.schema)
    assert set(TABLES) == set(first.inserted)
    assert after_first == first.inserted
    assert 3 == after_first["users"]
    again = seed(target, progress=_quiet)
    assert 0 == again.total
    assert "seed data already present: nothing inserted" == again.summary()
    assert after_first == counts(sql_conn, target.schema)


def test_seed_keeps_conflicting_rows_and_adds_no_duplicates(
    target: DatabaseTarget, sql_conn: psycopg.Connection
) -> None:
    """Rows already there with the seed's natural keys (the demo user with another name, one of its
    events, an API call) are kept as they are; the rest is added once; the app's own inserts still
    get fresh ids afterwards."""
    migrate(target, progress=_quiet)
    schema = target.schema
    sql_conn.execute(f"SET search_path TO {schema}")
    sql_conn.execute("INSERT INTO users (email, name) VALUES ('demo@example.com', 'Renamed by hand')")
    sql_conn.execute(
        "INSERT INTO events (user_id, gcal_event_id, title, start_ts, end_ts) "
        "SELECT id, 'seed-planning', 'Moved planning', now(), now() FROM users"
    )
    sql_conn.execute("INSERT INTO usage_events (user_id, route) SELECT id, 'GET /api/events' FROM users")
    report = seed(target, progress=_quiet)
    seed(target, progress=_quiet)
    assert 2 == report.inserted["users"]  # Ada and Grace; the demo user was there
    rows = sql_conn.execute("SELECT name FROM users WHERE email = 'demo@example.com'").fetchall()
    assert [("Renamed by hand",)] == rows
    titles = sql_conn.execute("SELECT title FROM events WHERE gcal_event_id = 'seed-planning'").fetchall()
    assert [("Moved planning",)] == titles
    duplicates = sql_conn.execute(
        "SELECT user_id, route, count(*) FROM usage_events GROUP BY 1, 2 HAVING count(*) > 1"
    ).fetchall()
    assert [] == duplicates
    sql_conn.execute("INSERT INTO users (email) VALUES ('after-seed@example.com')")  # no id clash


def test_seed_refuses_a_schema_below_head(target: DatabaseTarget, sql_conn: psycopg.Connection) -> None:
    """A schema that is not at head is refused with what to run, and nothing is inserted."""
    migrate(target, to="0001_baseline", progress=_quiet)
    with pytest.raises(UserError, match=r"is at 0001_baseline, not at head .*run `invoke db.migrate` first"):
        seed(target, progress=_quiet)
    assert 0 == counts(sql_conn, target.schema)["users"]


def test_a_failing_seed_file_inserts_nothing(
    target: DatabaseTarget, sql_conn: psycopg.Connection, tmp_path: Path
) -> None:
    """A seed file that fails half-way is rolled back whole, reported in one line."""
    migrate(target, progress=_quiet)
    broken = tmp_path / "seed.sql"
    broken.write_text(SEED_FILE.read_text() + "\nINSERT INTO no_such_table VALUES (1);\n")
    with pytest.raises(UserError) as caught:
        seed(target, progress=_quiet, path=broken)
    message = str(caught.value)
    assert message.startswith("seed.sql failed and was rolled back (nothing was inserted): ")
    assert "no_such_table" in message
    assert "\n" not in message
    assert dict.fromkeys(TABLES, 0) == counts(sql_conn, target.schema)


def _run_job(database: TestDatabase, **extra: str) -> subprocess.CompletedProcess[str]:
    """The job on the test database, in this process (its seeding is the subject, not its process)."""
    return run_job(environ={**database.environ(), **extra})


def test_the_migration_job_seeds_only_when_asked(
    database: TestDatabase, sql_conn: psycopg.Connection
) -> None:
    """`python -m ops.migrate` leaves the tables empty by default, seeds with MIGRATE_SEED=true, and
    refuses a value that is not a switch before touching anything."""
    plain = _run_job(database)
    assert 0 == plain.returncode, plain.stderr
    assert 0 == counts(sql_conn, database.schema)["users"]
    bad = _run_job(database, MIGRATE_SEED="maybe")
    assert 1 == bad.returncode
    assert "error: MIGRATE_SEED must be true or false (got 'maybe')\n" == bad.stderr
    seeded = _run_job(database, MIGRATE_SEED="true")
    assert 0 == seeded.returncode, seeded.stderr
    assert "seeded " in seeded.stdout
    assert 3 == counts(sql_conn, database.schema)["users"]


def _invoke(*args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    return run_task(*args, environ=environ, timeout=300)


def test_up_seeds_the_local_database_and_db_seed_guards_cloud_ones(
    local_env: LocalEnv, database: TestDatabase, sql_conn: psycopg.Connection
) -> None:
    """`invoke up` leaves the local database seeded (the local stack sets seed: true) and `db.seed`
    reruns harmlessly; `db.seed --env staging` is refused, since staging's stack does not ask for
    seed data, and inserts nothing."""
    up = _invoke("up")
    assert 0 == up.returncode, up.stdout + up.stderr
    with psycopg.connect(libpq_dsn(local_env.direct_url()), autocommit=True) as conn:
        assert 3 == counts(conn, local_env.config.schema)["users"]
    again = _invoke("db.seed")
    assert 0 == again.returncode, again.stderr
    assert "seed data already present: nothing inserted" in again.stdout
    migrate(DatabaseTarget.from_urls("test", database.direct_url, None, database.schema), progress=_quiet)
    refused = _invoke("db.seed", "--env", "staging", **database.environ())
    assert 1 == refused.returncode
    assert "error: --env staging: Pulumi.staging.yaml does not set" in refused.stderr
    assert 0 == counts(sql_conn, database.schema)["users"]
