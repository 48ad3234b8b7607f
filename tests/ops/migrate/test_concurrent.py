"""Concurrent DDL through the migrator: an autocommit block runs under the migration lock with the
concurrent statement timeout; a failed concurrent build leaves an INVALID index that db.check
names and a rerun rebuilds; the scratch schema of db.check and stamps builds it in place."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from app.urls import libpq_dsn
from ops.errors import UserError
from ops.migrate.lock import LOCK_CLASS, Timeouts, lock_key
from ops.migrate.migrator import check, downgrade, migrate
from ops.migrate.revisions import script_directory
from ops.migrate.target import DatabaseTarget
from tests.support import TestDatabase
from tests.support.migrate import history_rows, use_extra_versions, version
from tests.support.revisions import write_revision

CONCURRENT = "0004_usage_events_user_ts_index"
INDEX = "ix_usage_events_user_id_ts"

# A test-only revision after head: what the session looks like before, inside and after its block.
PROBE_SEEN = """
SEEN = sa.text(
    "INSERT INTO seen SELECT :phase, current_setting('statement_timeout'), "
    "current_setting('transaction_isolation'), EXISTS (SELECT 1 FROM pg_locks WHERE "
    "locktype = 'advisory' AND granted AND pid = pg_backend_pid() AND classid = {cls} AND objid = {key})"
)
"""
PROBE_UPGRADE = """
op.execute("CREATE TABLE seen (phase text, statement_timeout text, isolation text, locked boolean)")
op.execute(SEEN.bindparams(phase="before"))
with op.get_context().autocommit_block():
    op.execute(SEEN.bindparams(phase="inside"))
op.execute(SEEN.bindparams(phase="after"))
"""


def _quiet(_: str) -> None:
    """Progress sink for tests that only look at the result."""


def _valid(conn: psycopg.Connection, schema: str, index: str) -> bool | None:
    row = conn.execute(
        "SELECT x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "JOIN pg_namespace n ON n.oid = i.relnamespace WHERE n.nspname = %s AND i.relname = %s",
        (schema, index),
    ).fetchone()
    return None if row is None else bool(row[0])


def test_an_autocommit_block_keeps_the_lock_and_gets_the_concurrent_statement_timeout(
    target: DatabaseTarget, sql_conn: psycopg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside the block: autocommit, the lock still held, the longer timeout; after it, the usual one."""
    versions = tmp_path / "versions"
    versions.mkdir()
    key = lock_key(target.schema)
    write_revision(
        versions,
        "0005_probe_autocommit_block",
        "0004_usage_events_user_ts_index",
        PROBE_UPGRADE,
        downgrade='op.execute("DROP TABLE seen")',
        doc="Probe of the autocommit block's session.",
        preamble=PROBE_SEEN.replace("{cls}", str(LOCK_CLASS)).replace("{key}", str(key)),
    )
    use_extra_versions(monkeypatch, versions)
    script_directory.cache_clear()
    timeouts = Timeouts(statement_timeout="7min", concurrent_statement_timeout="3h")
    migrate(target, progress=_quiet, timeouts=timeouts)
    seen = sql_conn.execute(
        sql.SQL("SELECT phase, statement_timeout, isolation, locked FROM {}.seen").format(
            sql.Identifier(target.schema)
        )
    ).fetchall()
    assert [
        ("before", "7min", "read committed", True),
        ("inside", "3h", "read committed", True),
        ("after", "7min", "read committed", True),
    ] == seen
    assert ("upgrade", "0005_probe_autocommit_block", True) == history_rows(sql_conn, target.schema)[-1]


def test_a_failed_concurrent_build_is_reported_checked_and_rebuilt_by_a_rerun(
    target: DatabaseTarget, sql_conn: psycopg.Connection, database: TestDatabase
) -> None:
    """Held up by a writer past lock_timeout, the build leaves an INVALID index: the error says so,
    db.check names it, and the rerun drops it and builds a valid one."""
    migrate(target, to="0003_users_last_login", progress=_quiet)
    with psycopg.connect(libpq_dsn(database.direct_url)) as writer:
        table = sql.Identifier(target.schema, "usage_events")
        writer.execute(sql.SQL("INSERT INTO {} (route) VALUES ('/busy')").format(table))
        with pytest.raises(UserError) as failed:
            migrate(target, progress=_quiet, timeouts=Timeouts(lock_timeout="300ms"))
        writer.rollback()
    message = str(failed.value)
    assert message.startswith(
        f"revision {CONCURRENT} could not get a lock within lock_timeout=300ms in its autocommit block"
    )
    assert f"it left INVALID index {INDEX} on usage_events behind (db.check lists it)" in message
    assert ["0003_users_last_login"] == version(sql_conn, target.schema)
    assert ("upgrade", CONCURRENT, False) == history_rows(sql_conn, target.schema)[-1]
    assert _valid(sql_conn, target.schema, INDEX) is False
    invalid = next(result for result in check(target).results if result.name == "indexes valid")
    assert not invalid.ok
    assert [f"{INDEX} on usage_events"] == invalid.details

    assert [f"upgrade {CONCURRENT}"] == migrate(target, progress=_quiet).actions
    assert _valid(sql_conn, target.schema, INDEX) is True
    assert check(target).ok


def test_downgrade_drops_the_concurrent_index_and_upgrade_builds_it_again(
    target: DatabaseTarget, sql_conn: psycopg.Connection
) -> None:
    """The revision's downgrade drops the index concurrently too; head builds it again."""
    migrate(target, progress=_quiet)
    assert _valid(sql_conn, target.schema, INDEX) is True
    assert [CONCURRENT] == downgrade(target, "0003_users_last_login", progress=_quiet)
    assert _valid(sql_conn, target.schema, INDEX) is None
    migrate(target, progress=_quiet)
    assert _valid(sql_conn, target.schema, INDEX) is True
