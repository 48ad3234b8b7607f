"""db.status (every revision applied or pending, by whom, what db.migrate would do, lint of the
pending) and db.repair (an edited applied revision accepted, with its reason, or refused)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psycopg
import pytest
from invoke.context import Context
from invoke.exceptions import Exit
from psycopg import sql

from cli.db import migrations as db_tasks
from ops.errors import UserError
from ops.migrate.history import applied_by
from ops.migrate.lock import direct_connection
from ops.migrate.migrator import check, migrate
from ops.migrate.repair import repair
from ops.migrate.revisions import script_directory
from ops.migrate.status import StatusReport, status
from ops.migrate.target import DatabaseTarget
from tests.support import TestDatabase
from tests.support.migrate import SLOW_VERSIONS, history_rows, use_extra_versions
from tests.support.revisions import revision_source

ALL = [
    "0001_baseline",
    "0002_events_user_start_index",
    "0003_users_last_login",
    "0004_usage_events_user_ts_index",
]
UNSAFE = revision_source(
    "0005_users_name_index",
    "0004_usage_events_user_ts_index",
    'op.create_index("ix_users_name", "users", ["name"])',
    downgrade='op.drop_index("ix_users_name", table_name="users")',
    doc="Index users by name, the plain (blocking) way.",
)


def _quiet(_: str) -> None:
    """Progress sink for tests that only look at the result."""


def _status(target: DatabaseTarget) -> StatusReport:
    with direct_connection(target) as connection:
        return status(connection, target.env, target.schema)


def _environ(database: TestDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in database.environ().items():
        monkeypatch.setenv(key, value)


def test_status_of_an_empty_then_a_partly_migrated_schema(target: DatabaseTarget) -> None:
    """Empty: everything pending, db.migrate would build it; half way: who applied what, what is next."""
    empty = _status(target)
    assert ("empty", None) == (empty.state, empty.current)
    assert ALL == empty.pending
    assert ["build the empty schema from 0001_baseline", *(f"upgrade {r}" for r in ALL)] == empty.next_steps

    migrate(target, to=ALL[1], progress=_quiet)
    half = _status(target)
    assert ("versioned", ALL[1]) == (half.state, half.current)
    assert ["applied", "applied", "pending", "pending"] == [row.state for row in half.revisions]
    assert [applied_by()] * 2 == [row.applied_by for row in half.revisions[:2]]
    assert ["baseline", "upgrade"] == [row.action for row in half.revisions[:2]]
    assert all(row.applied_at for row in half.revisions[:2])
    assert [f"upgrade {ALL[2]}", f"upgrade {ALL[3]}"] == half.next_steps
    text = half.render()
    assert f"db.migrate would: upgrade {ALL[2]}; upgrade {ALL[3]}" in text
    migrate(target, progress=_quiet)
    assert "db.migrate would do nothing: the schema is at head" in _status(target).render()


def test_status_task_shows_lint_findings_of_pending_revisions(
    database: TestDatabase,
    target: DatabaseTarget,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A pending revision with a plain CREATE INDEX: db.status names the finding; --json has it too."""
    _environ(database, monkeypatch)
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "0005_users_name_index.py").write_text(UNSAFE)
    use_extra_versions(monkeypatch, versions)
    script_directory.cache_clear()
    migrate(target, to=ALL[-1], progress=_quiet)
    db_tasks.status(Context(), env="staging")
    out = capsys.readouterr().out
    assert "  pending  0005_users_name_index" in out
    assert "db.migrate would: upgrade 0005_users_name_index" in out
    assert "lint of the pending revisions:" in out
    assert "0005_users_name_index.py: require-concurrent-index-creation" in out
    db_tasks.status(Context(), env="staging", json=True)
    payload = json.loads(capsys.readouterr().out)
    assert ["0005_users_name_index"] == payload["pending"]
    assert ["require-concurrent-index-creation"] == [f["rule"] for f in payload["lint"]["new"]]
    assert "applied" == payload["revisions"][0]["state"]


def test_status_names_a_revision_this_code_does_not_know(
    target: DatabaseTarget, sql_conn: psycopg.Connection
) -> None:
    """A database migrated by newer code: the status says db.migrate would refuse, and why."""
    migrate(target, progress=_quiet)
    table = sql.Identifier(target.schema, "alembic_version")
    sql_conn.execute(sql.SQL("UPDATE {} SET version_num = '0099_from_the_future'").format(table))
    report = _status(target)
    assert report.refusal is not None
    assert "'0099_from_the_future', which this code does not know" in report.refusal
    assert "db.migrate would refuse: " in report.render()


def test_repair_accepts_an_edited_applied_revision_with_its_reason(
    database: TestDatabase,
    target: DatabaseTarget,
    sql_conn: psycopg.Connection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Edited after it was applied: db.check fails; db.repair (--yes, --reason) records the new
    checksum with the reason; db.check passes, db.migrate stops warning, db.status shows it."""
    _environ(database, monkeypatch)
    versions = tmp_path / "versions"
    versions.mkdir()
    edited = versions / "0005_slow_for_tests.py"
    shutil.copy(SLOW_VERSIONS / "0005_slow_for_tests.py", edited)
    use_extra_versions(monkeypatch, versions)
    script_directory.cache_clear()
    migrate(target, progress=_quiet)
    edited.write_text(edited.read_text() + "\n# a comment added after deployment\n")
    assert not next(r for r in check(target).results if r.name == "revision checksums").ok
    assert _status(target).revisions[-1].edited

    with pytest.raises(Exit, match="rerun with --yes"):
        db_tasks.repair(Context(), revision="0005_slow_for_tests", reason="a comment only")
    with pytest.raises(Exit, match="needs --reason"):
        db_tasks.repair(Context(), revision="0005_slow_for_tests", env="staging", yes=True)
    db_tasks.repair(
        Context(), revision="0005_slow_for_tests", reason="a comment only", env="staging", yes=True
    )

    action, revision, ok = history_rows(sql_conn, target.schema)[-1]
    assert ("repair", "0005_slow_for_tests", True) == (action, revision, ok)
    note = sql_conn.execute(
        sql.SQL("SELECT description FROM {}.pgstack_migration_history ORDER BY id DESC LIMIT 1").format(
            sql.Identifier(target.schema)
        )
    ).fetchone()
    assert note is not None
    assert note[0].startswith("edit accepted: a comment only (applied as sha256 ")
    assert next(r for r in check(target).results if r.name == "revision checksums").ok
    lines: list[str] = []
    migrate(target, progress=lines.append)
    assert not [line for line in lines if line.startswith("warning:")]
    last = _status(target).revisions[-1]
    assert (False, "upgrade") == (last.edited, last.action)
    assert last.repaired is not None


def test_repair_refuses_a_pending_or_unedited_revision(target: DatabaseTarget) -> None:
    """Nothing to repair: a revision not applied, or applied and unchanged; each says why."""
    migrate(target, to=ALL[1], progress=_quiet)
    with pytest.raises(UserError, match=rf"^{ALL[2]} is not applied in schema 'app' \(at {ALL[1]}\)"):
        repair(target, ALL[2], "because", progress=_quiet)
    with pytest.raises(UserError, match=rf"^{ALL[1]}: its file is unchanged since it was applied"):
        repair(target, ALL[1], "because", progress=_quiet)


def test_repair_widens_a_history_table_made_before_repairs(
    target: DatabaseTarget, sql_conn: psycopg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A history table whose action check predates `repair` gets the wider check on first repair."""
    versions = tmp_path / "versions"
    versions.mkdir()
    edited = versions / "0005_slow_for_tests.py"
    shutil.copy(SLOW_VERSIONS / "0005_slow_for_tests.py", edited)
    use_extra_versions(monkeypatch, versions)
    script_directory.cache_clear()
    migrate(target, progress=_quiet)
    table = sql.Identifier(target.schema, "pgstack_migration_history")
    sql_conn.execute(
        sql.SQL(
            "ALTER TABLE {} DROP CONSTRAINT pgstack_migration_history_action_check, "
            "ADD CONSTRAINT pgstack_migration_history_action_check "
            "CHECK (action IN ('baseline', 'stamp', 'upgrade', 'downgrade'))"
        ).format(table)
    )
    edited.write_text(edited.read_text() + "\n# reworded\n")
    repair(target, "0005_slow_for_tests", "comment", progress=_quiet)
    assert "repair" == history_rows(sql_conn, target.schema)[-1][0]
