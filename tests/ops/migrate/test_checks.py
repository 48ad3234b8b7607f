"""db.check and the Alembic contract: one head, every downgrade, models equal to the DDL,
checksums of applied revisions, the plain `alembic` CLI and the tasks."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from invoke.context import Context
from invoke.exceptions import Exit
from psycopg import sql
from sqlalchemy.engine import make_url

from app.urls import libpq_dsn
from cli.db import migrations, schema
from ops.errors import UserError
from ops.migrate import revisions
from ops.migrate.lock import Timeouts
from ops.migrate.migrator import check, downgrade, migrate, stamp, upgrade_sql
from ops.migrate.revisions import MIGRATIONS_DIR, head_revision, script_directory
from ops.migrate.target import DatabaseTarget
from stacks.stackfile import REPO_ROOT
from tests.support import TestDatabase
from tests.support.migrate import (
    SLOW_VERSIONS,
    apply_legacy,
    history_rows,
    migrator_env,
    use_extra_versions,
    version,
)
from tests.support.tasks import run_task


def _quiet(_: str) -> None:
    """Progress sink for tests that only look at the result."""


def _results(target: DatabaseTarget) -> dict[str, bool]:
    return {result.name: result.ok for result in check(target).results}


def test_the_migrations_have_one_head() -> None:
    """The shipped revisions form one line ending in a single head."""
    assert 1 == len(script_directory().get_heads())
    assert "0004_usage_events_user_ts_index" == head_revision()


def test_every_downgrade_works_and_upgrade_from_base_returns_to_head(
    target: DatabaseTarget, sql_conn: psycopg.Connection
) -> None:
    """Each revision can be undone one by one down to base, and base upgrades back to head."""
    migrate(target, progress=_quiet)
    for lower in ("0003_users_last_login", "0002_events_user_start_index", "0001_baseline"):
        downgrade(target, lower, progress=_quiet)
        assert [lower] == version(sql_conn, target.schema)
    downgrade(target, "base", progress=_quiet)
    assert [] == version(sql_conn, target.schema)
    tables = sql_conn.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename IN "
        "('users', 'sessions', 'oauth_tokens', 'events', 'usage_events')",
        (target.schema,),
    ).fetchone()
    assert (0,) == tables
    migrate(target, progress=_quiet)
    assert [head_revision()] == version(sql_conn, target.schema)
    assert ["downgrade"] * 4 == [row[0] for row in history_rows(sql_conn, target.schema)[4:8]]


def test_check_passes_at_head(target: DatabaseTarget) -> None:
    """At head, models, version, live schema and checksums all pass."""
    migrate(target, progress=_quiet)
    report = check(target)
    assert {
        "one head": True,
        "models match migrations": True,
        "database at head": True,
        "live schema matches migrations": True,
        "indexes valid": True,
        "revision checksums": True,
    } == {result.name: result.ok for result in report.results}
    assert report.ok


def test_check_reports_a_hand_made_change(target: DatabaseTarget, sql_conn: psycopg.Connection) -> None:
    """A column added by hand makes the live-schema check fail with the column named."""
    migrate(target, progress=_quiet)
    sql_conn.execute(f'ALTER TABLE "{target.schema}".events ADD COLUMN colour text')
    report = check(target)
    live = next(r for r in report.results if r.name == "live schema matches migrations")
    assert not report.ok
    assert ["unexpected column events.colour: text NULL"] == live.details


def test_check_reports_an_applied_revision_edited_afterwards(
    target: DatabaseTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Editing a revision file after it was applied fails db.check and makes migrate warn."""
    extra = tmp_path / "versions"
    extra.mkdir()
    revision_file = extra / "0005_slow_for_tests.py"
    shutil.copy(SLOW_VERSIONS / "0005_slow_for_tests.py", revision_file)
    use_extra_versions(monkeypatch, extra)
    script_directory.cache_clear()
    migrate(target, progress=_quiet)
    assert _results(target)["revision checksums"]
    revision_file.write_text(revision_file.read_text() + "\n# tweaked after deployment\n")
    report = check(target)
    checksums = next(r for r in report.results if r.name == "revision checksums")
    assert not checksums.ok
    assert checksums.details[0].startswith("0005_slow_for_tests: applied as sha256 ")
    lines: list[str] = []
    migrate(target, progress=lines.append)
    assert lines[0].startswith("warning: applied revision edited since: 0005_slow_for_tests: ")


def test_stamp_verifies_unless_told_not_to(target: DatabaseTarget, sql_conn: psycopg.Connection) -> None:
    """Stamping head onto a legacy schema is refused; an unverified stamp is recorded as such."""
    apply_legacy(sql_conn, target.schema)
    with pytest.raises(UserError, match="does not match revision 0004_usage_events_user_ts_index"):
        stamp(target, "head", progress=_quiet)
    assert [] == version(sql_conn, target.schema)
    stamp(target, "0001_baseline", progress=_quiet)
    assert ["0001_baseline"] == version(sql_conn, target.schema)
    stamp(target, "head", verified=False, progress=_quiet)
    assert ["0004_usage_events_user_ts_index"] == version(sql_conn, target.schema)
    query = sql.SQL("SELECT description FROM {}.pgstack_migration_history ORDER BY id")
    notes = [row[0] for row in sql_conn.execute(query.format(sql.Identifier(target.schema)))]
    assert 2 == len(notes)
    assert re.search(r" - verified stamp, fingerprint [0-9a-f]{12}$", notes[0])
    assert notes[1].endswith(" - UNVERIFIED stamp (--no-verify)")
    assert not _results(target)["live schema matches migrations"]


def test_sql_mode_prints_the_upgrade_and_applies_nothing(
    target: DatabaseTarget, sql_conn: psycopg.Connection
) -> None:
    """`--sql` on an empty schema prints the baseline's DDL and leaves the schema empty."""
    text = upgrade_sql(target)
    assert "CREATE TABLE users" in text
    assert "ALTER TABLE users ADD COLUMN last_login_at" in text
    assert [] == version(sql_conn, target.schema)


def test_plain_alembic_cli_and_the_db_check_task(
    database: TestDatabase, sql_conn: psycopg.Connection
) -> None:
    """`alembic upgrade head` works as users type it; `invoke db.check --json` then reports ok."""
    env = migrator_env(database)
    bin_dir = Path(sys.executable).parent
    subprocess.run([bin_dir / "alembic", "upgrade", "head"], cwd=REPO_ROOT, env=env, check=True)
    assert ["0004_usage_events_user_ts_index"] == version(sql_conn, database.schema)
    checked = run_task("db.check", "--json", "--env", "staging", environ=env)
    assert 0 == checked.returncode, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["ok"]


def test_db_tasks_refuse_unconfirmed_actions_and_fail_on_drift(
    database: TestDatabase,
    target: DatabaseTarget,
    sql_conn: psycopg.Connection,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Unverified stamps and downgrades need --yes; db.check exits 1 on drift, password unprinted."""
    for key, value in database.environ().items():
        monkeypatch.setenv(key, value)
    migrate(target, progress=_quiet)
    context = Context()
    with pytest.raises(Exit, match="error: --no-verify records a revision without checking"):
        migrations.stamp(context, revision="0001_baseline", env="staging", verify=False)
    with pytest.raises(Exit, match="rerun with --yes"):
        migrations.downgrade(context, to="base", env="staging")
    assert ["0004_usage_events_user_ts_index"] == version(sql_conn, target.schema)
    sql_conn.execute(f'ALTER TABLE "{target.schema}".users ADD COLUMN nickname text')
    with pytest.raises(Exit) as failed:
        schema.check(context, env="staging")
    assert 1 == failed.value.code
    out = capsys.readouterr().out
    assert "FAIL  live schema matches migrations" in out
    assert "unexpected column users.nickname: text NULL" in out
    password = make_url(database.direct_url).password
    assert password
    assert password not in out


def test_db_revision_writes_the_next_numbered_file_ready_to_edit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`db.revision -m` numbers the file after the last revision and keeps `op` and `sa` imported."""
    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(revisions, "MIGRATIONS_DIR", scripts)
    script_directory.cache_clear()
    migrations.revision(Context(), message="Add a nickname to users")
    created = scripts / "versions" / "0005_add_a_nickname_to_users.py"
    assert "created " in capsys.readouterr().out
    source = created.read_text()
    assert 'down_revision: str | Sequence[str] | None = "0004_usage_events_user_ts_index"' in source
    assert "from alembic import op\n" in source
    assert "import sqlalchemy as sa\n" in source


def test_a_stamp_blocked_by_a_lock_fails_in_one_line(
    target: DatabaseTarget, sql_conn: psycopg.Connection, database: TestDatabase
) -> None:
    """A stamp waiting on a row lock of alembic_version fails within the lock timeout, as a user error."""
    migrate(target, progress=_quiet)
    table = sql.Identifier(target.schema, "alembic_version")
    with psycopg.connect(libpq_dsn(database.direct_url)) as blocker:
        blocker.execute(sql.SQL("SELECT * FROM {} FOR UPDATE").format(table))
        with pytest.raises(
            UserError, match=r"stamp 0004_usage_events_user_ts_index could not get a lock within"
        ):
            stamp(target, "head", progress=_quiet, timeouts=Timeouts(lock_timeout="300ms"))
        blocker.rollback()
    assert ["0004_usage_events_user_ts_index"] == version(sql_conn, target.schema)
