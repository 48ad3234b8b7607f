"""db.migrate in every database state, on the harness's real Postgres."""

from __future__ import annotations

import os
import subprocess
import time

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from app.urls import libpq_dsn
from ops.errors import UserError
from ops.local.native import LocalEnv
from ops.migrate.lock import LOCK_CLASS, Timeouts, lock_key
from ops.migrate.migrator import SchemaMismatchError, migrate
from ops.migrate.revisions import head_revision
from ops.migrate.state import State
from ops.migrate.target import DatabaseTarget
from tests.support import TestDatabase
from tests.support.migrate import apply_legacy, history_rows, version
from tests.support.tasks import run_job

ALL = [
    "0001_baseline",
    "0002_events_user_start_index",
    "0003_users_last_login",
    "0004_usage_events_user_ts_index",
]


def _quiet(_: str) -> None:
    """Progress sink for tests that only look at the result."""


def _catalog_snapshot(conn: psycopg.Connection, schema: str) -> list[tuple[object, ...]]:
    """Every object of the schema with its definition, plus the data of users: what must not move."""
    objects = conn.execute(
        "SELECT c.relname, c.relkind, c.relfilenode, "
        "coalesce(pg_get_indexdef(c.oid), ''), "
        "(SELECT string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod) || "
        "  ':' || a.attnotnull, ',' ORDER BY a.attnum) FROM pg_attribute a "
        "  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s ORDER BY c.relname",
        (schema,),
    ).fetchall()
    rows = conn.execute(
        sql.SQL("SELECT * FROM {}.users ORDER BY id").format(sql.Identifier(schema))
    ).fetchall()
    return [tuple(row) for row in objects] + [tuple(row) for row in rows]


def _pg_dump(database: TestDatabase, local_env: LocalEnv) -> bytes:
    """The whole database (schema and data) as pg_dump writes it: the byte-for-byte witness."""
    url = make_url(database.direct_url)
    pg_dump = local_env.binaries.pg_bindir / "pg_dump"
    argv = [str(pg_dump), "-h", str(url.host), "-p", str(url.port), "-U", str(url.username)]
    argv.append(url.database or "")
    environ = {**os.environ, "PGPASSWORD": url.password or ""}
    dump = subprocess.run(argv, env=environ, capture_output=True, check=True).stdout
    # Recent pg_dump brackets its output with a random \restrict key per run: not the database.
    return b"\n".join(
        line for line in dump.split(b"\n") if not line.startswith((b"\\restrict", b"\\unrestrict"))
    )


def test_empty_schema_is_built_from_base(target: DatabaseTarget, sql_conn: psycopg.Connection) -> None:
    """An empty schema gets every revision, recorded once each, the first as the baseline."""
    report = migrate(target, progress=_quiet)
    assert State.EMPTY == report.state
    assert [head_revision()] == version(sql_conn, target.schema)
    expected = [("baseline", ALL[0], True)] + [("upgrade", revision, True) for revision in ALL[1:]]
    assert expected == history_rows(sql_conn, target.schema)


def test_matching_unversioned_schema_is_stamped_then_upgraded(
    target: DatabaseTarget, sql_conn: psycopg.Connection
) -> None:
    """A schema bootstrapped from the legacy SQL is verified, stamped (not replayed) and upgraded."""
    apply_legacy(sql_conn, target.schema)
    sql_conn.execute(
        sql.SQL("INSERT INTO {}.users (email) VALUES ('kept@example.com')").format(
            sql.Identifier(target.schema)
        )
    )
    report = migrate(target, progress=_quiet)
    assert State.UNVERSIONED == report.state
    assert ["stamp 0001_baseline (verified)"] + [f"upgrade {rev}" for rev in ALL[1:]] == report.actions
    expected = [("stamp", ALL[0], True)] + [("upgrade", revision, True) for revision in ALL[1:]]
    assert expected == history_rows(sql_conn, target.schema)
    emails = sql_conn.execute(
        sql.SQL("SELECT email FROM {}.users").format(sql.Identifier(target.schema))
    ).fetchall()
    assert [("kept@example.com",)] == emails


def test_mismatched_unversioned_schema_is_refused_and_left_untouched(
    target: DatabaseTarget, sql_conn: psycopg.Connection, database: TestDatabase, local_env: LocalEnv
) -> None:
    """A legacy schema someone altered by hand is refused with a diff, and nothing changes."""
    apply_legacy(sql_conn, target.schema)
    schema = sql.Identifier(target.schema)
    sql_conn.execute(sql.SQL("ALTER TABLE {}.users ALTER COLUMN name SET NOT NULL").format(schema))
    sql_conn.execute(sql.SQL("DROP INDEX {}.ix_usage_events_ts").format(schema))
    sql_conn.execute(sql.SQL("INSERT INTO {}.users (email, name) VALUES ('a@b.c', 'A')").format(schema))
    before = _catalog_snapshot(sql_conn, target.schema)
    dump_before = _pg_dump(database, local_env)
    lines: list[str] = []
    with pytest.raises(SchemaMismatchError, match="does not match revision 0001_baseline") as caught:
        migrate(target, progress=lines.append)
    assert dump_before == _pg_dump(database, local_env)
    assert before == _catalog_snapshot(sql_conn, target.schema)
    assert [] == version(sql_conn, target.schema)
    shown = "\n".join(lines)
    assert "differs    column users.name: not null expected no, found yes" in shown
    assert "missing    index ix_usage_events_ts on usage_events" in shown
    assert 2 == len(caught.value.diff)


def test_versioned_schema_is_upgraded_to_head(target: DatabaseTarget, sql_conn: psycopg.Connection) -> None:
    """A database at an older revision gets only the revisions it lacks."""
    migrate(target, to=ALL[1], progress=_quiet)
    assert [ALL[1]] == version(sql_conn, target.schema)
    report = migrate(target, progress=_quiet)
    assert State.VERSIONED == report.state
    assert [f"upgrade {ALL[2]}", f"upgrade {ALL[3]}"] == report.actions
    assert [ALL[3]] == version(sql_conn, target.schema)


def test_at_head_is_a_no_op(target: DatabaseTarget, sql_conn: psycopg.Connection) -> None:
    """Migrating a database already at head changes nothing and records nothing."""
    migrate(target, progress=_quiet)
    rows = history_rows(sql_conn, target.schema)
    report = migrate(target, progress=_quiet)
    assert [] == report.actions
    assert rows == history_rows(sql_conn, target.schema)


def test_unknown_revision_is_refused(target: DatabaseTarget, sql_conn: psycopg.Connection) -> None:
    """A database migrated by newer code (unknown revision) is refused with what to do."""
    migrate(target, progress=_quiet)
    sql_conn.execute(
        sql.SQL("UPDATE {}.alembic_version SET version_num = '9999_from_the_future'").format(
            sql.Identifier(target.schema)
        )
    )
    with pytest.raises(UserError, match=r"9999_from_the_future.*does not know.*deploy"):
        migrate(target, progress=_quiet)


def test_several_recorded_heads_are_refused(target: DatabaseTarget, sql_conn: psycopg.Connection) -> None:
    """A database recording two heads is refused and told to merge."""
    migrate(target, progress=_quiet)
    sql_conn.execute(
        sql.SQL("INSERT INTO {}.alembic_version VALUES ('0002_events_user_start_index')").format(
            sql.Identifier(target.schema)
        )
    )
    with pytest.raises(UserError, match=r"several heads.*merge"):
        migrate(target, progress=_quiet)


def test_pgbouncer_url_is_refused(database: TestDatabase) -> None:
    """A direct URL that is really the PgBouncer URL is refused, naming the setting to fix."""
    through_pgbouncer = DatabaseTarget.from_urls(
        "test", database.pooled_url, database.pooled_url, database.schema
    )
    with pytest.raises(UserError, match=r"goes through PgBouncer.*DIRECT_DATABASE_URL"):
        migrate(through_pgbouncer, progress=_quiet)


def test_blocked_migration_fails_within_the_lock_timeout(
    target: DatabaseTarget, sql_conn: psycopg.Connection, database: TestDatabase
) -> None:
    """A revision blocked by another transaction's lock fails fast, clearly, and is recorded."""
    migrate(target, to=ALL[1], progress=_quiet)
    with psycopg.connect(libpq_dsn(database.direct_url)) as blocker:
        blocker.execute(sql.SQL("SELECT * FROM {}.users").format(sql.Identifier(target.schema)))
        started = time.monotonic()
        with pytest.raises(
            UserError, match=r"0003_users_last_login could not get a lock within lock_timeout=300ms"
        ):
            migrate(target, progress=_quiet, timeouts=Timeouts(lock_timeout="300ms"))
        elapsed = time.monotonic() - started
        blocker.rollback()
    assert elapsed < 5
    assert [ALL[1]] == version(sql_conn, target.schema)
    assert ("upgrade", ALL[2], False) == history_rows(sql_conn, target.schema)[-1]


def test_second_migrator_waits_bounded_naming_the_holder(
    target: DatabaseTarget, database: TestDatabase
) -> None:
    """While another session holds the migration lock, the migrator names it, waits, then gives up."""
    key = {"cls": LOCK_CLASS, "key": lock_key(target.schema)}
    dsn = libpq_dsn(database.direct_url)
    with psycopg.connect(dsn, autocommit=True, application_name="deploy-42") as holder:
        holder.execute("SELECT pg_advisory_lock(%(cls)s, %(key)s)", key)
        lines: list[str] = []
        started = time.monotonic()
        with pytest.raises(UserError, match=r"another migrator still holds the migration lock.*deploy-42"):
            migrate(target, progress=lines.append, timeouts=Timeouts(lock_wait_s=0.5))
        assert time.monotonic() - started < 5
        assert f"held by pid {holder.info.backend_pid} (deploy-42" in lines[0]
        holder.execute("SELECT pg_advisory_unlock(%(cls)s, %(key)s)", key)
    assert [f"upgrade {revision}" for revision in ALL] == migrate(target, progress=_quiet).actions


def test_a_zero_lock_wait_gives_up_at_once(target: DatabaseTarget, database: TestDatabase) -> None:
    """MIGRATE_LOCK_WAIT_S=0 means do not wait: a held lock is an error at once, not an endless wait."""
    key = {"cls": LOCK_CLASS, "key": lock_key(target.schema)}
    with psycopg.connect(libpq_dsn(database.direct_url), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%(cls)s, %(key)s)", key)
        # The job in this process: a wait after all ends at run_job's timeout, and fails the test.
        done = run_job(environ={**database.environ(), "MIGRATE_LOCK_WAIT_S": "0"})
    assert 1 == done.returncode
    assert "MIGRATE_LOCK_WAIT_S is 0: wait for it to finish" in done.stderr


@pytest.mark.parametrize("value", ["-1", "soon", "inf"])
def test_a_bad_lock_wait_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """MIGRATE_LOCK_WAIT_S that is negative, not a number or infinite is refused, naming the variable."""
    monkeypatch.setenv("MIGRATE_LOCK_WAIT_S", value)
    with pytest.raises(UserError, match=r"MIGRATE_LOCK_WAIT_S must be a number of seconds, 0 or more"):
        Timeouts.from_environ(os.environ)


def test_a_bad_migration_timeout_is_one_line_and_changes_nothing(
    target: DatabaseTarget, sql_conn: psycopg.Connection
) -> None:
    """MIGRATE_LOCK_TIMEOUT that Postgres cannot parse is refused in one line before any revision runs."""
    with pytest.raises(UserError) as caught:
        migrate(target, progress=_quiet, timeouts=Timeouts(lock_timeout="5 parsecs"))
    message = str(caught.value)
    assert 1 == len(message.splitlines()), message
    assert 'invalid migration timeout (invalid value for parameter "lock_timeout": "5 parsecs")' in message
    assert [] == version(sql_conn, target.schema)
